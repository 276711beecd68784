package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ddsnet/dds/testnet"
)

type testnetOptions struct {
	nodes        int
	dir          string
	httpBase     int
	p2pBase      int
	s3Base       int
	processorKey string
}

func testnetCommand(fs *flagSet) runner {
	o := &testnetOptions{}
	fs.Int(&o.nodes, "nodes", 4, 1, "number of nodes (a network quotes from 4)")
	fs.String(&o.dir, "dir", "", "DIR", "where the nodes keep their data and testnet.json (default: a new temp dir)")
	fs.Int(&o.httpBase, "http-base-port", 0, 0, "node i serves HTTP on this port + i (default: free ports)")
	fs.Int(&o.p2pBase, "p2p-base-port", 0, 0, "node i listens for libp2p on this port + i (default: free ports)")
	fs.Int(&o.s3Base, "s3-base-port", 0, 0, "node i serves its S3 gateway on this port + i (default: free ports)")
	fs.String(&o.processorKey, "processor-key", "", "FILE", "make the network with this payment processor key (made unless it exists): every payment then needs its signature (dds pay --processor-key)")
	return o.run
}

func (o *testnetOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the dds binary: %w", err)
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "dds-testnet-"); err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "testnet.json")); err == nil {
		fmt.Fprintf(a.stderr, "dds: starting the network in %s again (%d nodes)\n", dir, o.nodes)
	} else {
		fmt.Fprintf(a.stderr, "dds: starting %d nodes in %s\n", o.nodes, dir)
	}
	var processor []byte
	if o.processorKey != "" {
		if processor, err = processorPublicKey(o.processorKey); err != nil {
			return fmt.Errorf("--processor-key: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nw, err := testnet.StartProcesses(sctx, testnet.ProcessOptions{
		Binary: bin, Nodes: o.nodes, Dir: dir, HTTPBasePort: o.httpBase, P2PBasePort: o.p2pBase, S3BasePort: o.s3Base, Stderr: a.stderr,
		ExtraArgs: []string{"--log-level", "warn"}, ProcessorKey: processor,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPEER ID\tHTTP\tS3\tROLE")
	for _, n := range nw.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.PeerID, n.HTTP, n.S3, n.Role)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "\nwrote %s; billing tokens are in it. Ctrl-C stops the network.\n", nw.JSONPath())
	if n := nw.Nodes[0]; n.S3 != "" {
		fmt.Fprintf(a.stdout, "S3: dds account create NAME --node %s --billing-token T, then dds s3-key create --node %s --api-key K;\n"+
			"    aws --endpoint-url %s s3 ls (access keys are per node: one per gateway)\n", n.HTTP, n.HTTP, n.S3)
	}
	fmt.Fprintf(a.stderr, "dds: testnet up\n")
	<-ctx.Done()
	fmt.Fprintln(a.stderr, "dds: stopping the network")
	return nw.Stop()
}
