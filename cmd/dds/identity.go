package main

import (
	"context"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/p2p"
)

// An invite names the peer id of the node it admits, and a node makes its
// identity key on its first start, which needs the invite: dds identity
// breaks the circle, as deployments that script the joining (the compose
// file's init service) need.

type identityOptions struct {
	dataDir string
	json    bool
}

func identityCommand(fs *flagSet) runner {
	o := &identityOptions{}
	fs.String(&o.dataDir, "data-dir", node.DefaultConfig().DataDir, "DIR", "the node's data dir, as dds daemon is given it")
	fs.Bool(&o.json, "json", "print the JSON document instead of text")
	return o.run
}

func (o *identityOptions) run(_ context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	home := a.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	dir, err := expandHome(o.dataDir, home)
	if err != nil {
		return usagef("--data-dir: %w", err)
	}
	key, err := p2p.LoadOrCreateKey(dir)
	if err != nil {
		return fmt.Errorf("identity of %s: %w", dir, err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("identity of %s: %w", dir, err)
	}
	if o.json {
		return printJSON(a.stdout, map[string]string{"peer_id": id.String()})
	}
	fmt.Fprintln(a.stdout, id)
	return nil
}
