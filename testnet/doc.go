// Package testnet starts local dds networks: N nodes on loopback, each
// with its own free ports and data dir, the first starting the network and
// the others joining it through the first.
//
// [Start] runs the nodes in this process (for Go tests):
//
//	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 4, Dir: t.TempDir()})
//	if err != nil { ... }
//	defer nw.Close()
//	c, _ := client.New(nw.Nodes[0].URL)
//
// and offers faults for tests: [Network.Stop] and [Network.Restart] a node
// on the same data dir. The `dds testnet` command runs the same networks as
// separate `dds daemon` processes.
package testnet
