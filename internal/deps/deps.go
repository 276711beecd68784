// Package deps pins the project's module dependencies while the packages
// that use them are being written. It is removed once every module is
// imported by real code.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/google/uuid"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb"
	_ "github.com/ipfs/go-cid"
	_ "github.com/ipld/go-ipld-prime/codec/dagcbor"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-kad-dht"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	_ "github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	_ "github.com/multiformats/go-multihash"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/schollz/progressbar/v3"
	_ "go.uber.org/goleak"
	_ "golang.org/x/time/rate"
	_ "golang.org/x/term"
)
