// Command dds is the one binary of the dds storage network (spec/cli.md).
//
// "dds daemon" runs a node: it listens for the external HTTP API first (so
// --http-addr 127.0.0.1:0 works and the node advertises the real address),
// starts the node ([github.com/ddsnet/dds/node.Node]), serves it with
// [github.com/ddsnet/dds/node/httpapi.Server], prints
// "dds: serving http://ADDR" to stderr and runs until SIGINT or SIGTERM.
//
// The other commands are clients of a node, written with
// [github.com/ddsnet/dds/client]:
//
//	dds put FILE [--duration 720h] [--name N] [--additional JSON] [--pay --billing-token T]
//	dds get ID [-o FILE]
//	dds info ID
//	dds ls [--page-size N]
//	dds extend ID --duration 1440h
//	dds pay ID --amount X --billing-token T [--status error]
//	dds status
//	dds local-payments --from yyyymmdd --to yyyymmdd
//
// Every flag also reads from an environment variable (--node: DDS_NODE,
// --http-addr: DDS_HTTP_ADDR) and from the TOML file named by --config
// (data-dir = "/x", p2p-addr = ["/ip4/..."]); flags win over the
// environment, the environment over the file, the file over the defaults.
// A bad value names itself ("dds: --max-upload: invalid size "10QB"") and
// exits 2; a failure exits 1, and an API error prints as
// "dds: <code>: <detail> (at <pointer>)".
//
// main.go only dispatches: app.go holds the command table, flags.go the
// flag, environment and config machinery, and each command its own file.
package main
