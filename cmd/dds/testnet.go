package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/testnet"
)

type testnetOptions struct {
	nodes        int
	dir          string
	httpBase     int
	p2pBase      int
	s3Base       int
	processorKey string
	logLevel     string
	restarts     int
}

func testnetCommand(fs *flagSet) runner {
	o := &testnetOptions{}
	fs.Int(&o.nodes, "nodes", 4, 1, "number of nodes (a network quotes from 4)")
	fs.String(&o.dir, "dir", "", "DIR", "where the nodes keep their data and testnet.json (default: a new temp dir)")
	fs.Int(&o.httpBase, "http-base-port", 0, 0, "node i serves HTTP on this port + i (default: free ports)")
	fs.Int(&o.p2pBase, "p2p-base-port", 0, 0, "node i listens for libp2p on this port + i (default: free ports)")
	fs.Int(&o.s3Base, "s3-base-port", 0, 0, "node i serves its S3 gateway on this port + i (default: free ports)")
	fs.String(&o.processorKey, "processor-key", "", "FILE", "make the network with this payment processor key (made unless it exists): every payment then needs its signature (dds pay --processor-key)")
	fs.Choice(&o.logLevel, "log-level", "info", []string{"debug", "info", "warn", "error"}, "the daemons' log level (each logs JSON lines to DIR/nodeI/daemon.log)")
	fs.Int(&o.restarts, "restarts", 3, 0, "how many times a daemon that dies is started again (0: never)")
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
		LogFiles: true, ExtraArgs: []string{"--log-level", o.logLevel}, ProcessorKey: processor,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return err
	}
	printNetwork(a.stdout, nw)
	fmt.Fprintf(a.stderr, "dds: testnet up\n")
	o.watch(ctx, a, nw)
	fmt.Fprintln(a.stderr, "dds: stopping the network")
	return nw.Stop()
}

// printNetwork writes the table of the nodes and how to use the network.
func printNetwork(w io.Writer, nw *testnet.ProcessNetwork) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPEER ID\tHTTP\tS3\tROLE\tLOG")
	for _, n := range nw.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.PeerID, n.HTTP, n.S3, n.Role, testnet.LogFile(n.DataDir))
	}
	tw.Flush()
	n := nw.Nodes[0]
	fmt.Fprintf(w, "\nwrote %s (every node's URLs and billing token). Logs: JSON lines, one file a node (LOG). Ctrl-C stops the network.\n", nw.JSONPath())
	fmt.Fprintf(w, "\nTo use %s from another shell (billing tokens are per node: this one is %s's):\n", n.Name, n.Name)
	fmt.Fprintf(w, "  export DDS_NODE=%s DDS_BILLING_TOKEN=$(cat %s)\n", n.HTTP, shellQuote(node.TokenFile(n.DataDir)))
	fmt.Fprintf(w, "  dds put FILE --pay && dds status\n")
	if n.S3 != "" {
		fmt.Fprintf(w, "S3: dds account create NAME, then dds s3-key create --api-key K;\n"+
			"    aws --endpoint-url %s s3 ls (access keys are per node: one per gateway)\n", n.S3)
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// watch reports each daemon that dies, at once, with the end of its log,
// and starts it again, up to o.restarts times a node; it returns when ctx
// ends.
func (o *testnetOptions) watch(ctx context.Context, a *app, nw *testnet.ProcessNetwork) {
	restarts := map[string]int{}
	gaveUp := map[string]bool{}
	for {
		i, exitErr := nw.Died(ctx, func(i int) bool { return gaveUp[nw.Nodes[i].Name] })
		if i < 0 {
			return
		}
		nd := nw.Nodes[i]
		status := "exit status 0"
		if exitErr != nil {
			status = exitErr.Error()
		}
		log := testnet.LogFile(nd.DataDir)
		fmt.Fprintf(a.stderr, "dds: %s (pid %d) died: %s; the end of %s:\n", nd.Name, nd.PID, status, log)
		for _, line := range lastLines(log, 10) {
			fmt.Fprintf(a.stderr, "  %s\n", line)
		}
		if restarts[nd.Name] >= o.restarts {
			gaveUp[nd.Name] = true
			fmt.Fprintf(a.stderr, "dds: not starting %s again (started again %d times, --restarts %d)\n", nd.Name, restarts[nd.Name], o.restarts)
			continue
		}
		restarts[nd.Name]++
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := nw.Restart(rctx, i)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// The node stays dead: Died reports it again at once, and the
			// count bounds the attempts.
			fmt.Fprintf(a.stderr, "dds: %v\n", err)
		default:
			fmt.Fprintf(a.stderr, "dds: %s started again (pid %d; restart %d of at most %d)\n", nd.Name, nw.Nodes[i].PID, restarts[nd.Name], o.restarts)
		}
	}
}

// lastLines returns up to n last lines of the file at path (none if it
// cannot be read).
func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// A daemon's last lines fit in the last 64 KiB.
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		if _, err := f.Seek(-64<<10, io.SeekEnd); err != nil {
			return nil
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines[max(0, len(lines)-n):]
}
