package testnet

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ProcessOptions configures a network of `dds daemon` processes.
type ProcessOptions struct {
	Binary       string // the dds executable
	Nodes        int    // default 4
	Dir          string // required: DIR/nodeI are the data dirs, DIR/testnet.json the description
	HTTPBasePort int    // 0: free ports; else node i listens on HTTPBasePort+i (a node started again keeps its port)
	P2PBasePort  int    // 0: free ports; else node i listens on P2PBasePort+i (likewise)
	S3BasePort   int    // 0: free ports; else node i serves its S3 gateway on S3BasePort+i (likewise)
	Stderr       io.Writer
	// LogFiles sends each daemon's log to its own file, DataDir/daemon.log
	// (appended, the lines as the daemon writes them), instead of to
	// Stderr with a "nodeI: " prefix, which no log tool parses.
	LogFiles  bool
	ExtraArgs []string // more daemon flags for every node
	// ProcessorKey, when set, is the payment processor's public key the
	// network is made with (node0's --processor-public-key): every
	// payment then needs the processor's signature.
	ProcessorKey []byte
}

// founderArgs are node0's own flags: the admission key where the network
// keeps it (node0 may start again before its log has replayed the
// ledger's Init), and the processor's key.
func (o ProcessOptions) founderArgs() []string {
	args := []string{"--admission-key", AdmissionKeyPath(o.Dir)}
	if o.ProcessorKey != nil {
		args = append(args, "--processor-public-key", base64.StdEncoding.EncodeToString(o.ProcessorKey))
	}
	return args
}

// ProcessNode is one daemon of a [ProcessNetwork], as testnet.json
// describes it.
type ProcessNode struct {
	Name         string   `json:"name"`
	PeerID       string   `json:"peer_id"`
	HTTP         string   `json:"http"`
	S3           string   `json:"s3"` // the node's S3 gateway
	P2P          []string `json:"p2p"`
	PID          int      `json:"pid"`
	DataDir      string   `json:"data_dir"`
	BillingToken string   `json:"billing_token"`
	Role         string   `json:"-"`

	cmd    *exec.Cmd
	done   chan error
	opts   ProcessOptions
	args   []string
	killed bool
	// exited is closed when the process has exited (exitErr then says
	// how); stopping marks an exit Stop asked for.
	exited   chan struct{}
	exitErr  error
	stopping bool
}

// LogFile is where the daemon's log goes with [ProcessOptions.LogFiles].
func LogFile(dataDir string) string { return filepath.Join(dataDir, "daemon.log") }

// ProcessNetwork is a running network of daemon processes.
type ProcessNetwork struct {
	Nodes []*ProcessNode `json:"nodes"`
	dir   string
}

// StartProcesses starts the daemons (each in its own process group, killed
// if this process dies, even by SIGKILL), waits until every node is up and
// the billing quorum holds them all, and writes DIR/testnet.json.
//
// A Dir that holds a network already (its testnet.json) starts that
// network again: its nodes on their data dirs, with their identities and
// ports (so the old testnet.json's URLs still work), all at once (a node
// that was a voter waits for enough of the others before it serves), then
// any more that Nodes asks for, joining them.
func StartProcesses(ctx context.Context, o ProcessOptions) (*ProcessNetwork, error) {
	if o.Dir == "" || o.Binary == "" {
		return nil, errors.New("testnet: Dir and Binary are required")
	}
	if o.Nodes <= 0 {
		o.Nodes = 4
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	pn := &ProcessNetwork{dir: o.Dir}
	prev, err := pn.previous(o.Nodes)
	if err != nil {
		return nil, err
	}
	if err := pn.resume(ctx, o, prev); err != nil {
		pn.Stop()
		return nil, err
	}
	for i := len(prev); i < o.Nodes; i++ {
		pnode, err := pn.startOne(ctx, o, i)
		if err != nil {
			pn.Stop()
			return nil, fmt.Errorf("testnet: start node%d: %w", i, err)
		}
		pn.Nodes = append(pn.Nodes, pnode)
	}
	if err := pn.waitUp(ctx); err != nil {
		pn.Stop()
		return nil, err
	}
	if err := pn.writeJSON(); err != nil {
		pn.Stop()
		return nil, err
	}
	return pn, nil
}

// previous reads the network that Dir holds, if any: nil when Dir has
// neither testnet.json nor node data.
func (pn *ProcessNetwork) previous(nodes int) ([]*ProcessNode, error) {
	b, err := os.ReadFile(pn.JSONPath())
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(pn.dir, "node0")); err == nil {
			return nil, fmt.Errorf("testnet: %s holds node data but no testnet.json (a network that never came up?): remove it or use another directory", pn.dir)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: read the network in %s: %w", pn.dir, err)
	}
	var prev ProcessNetwork
	if err := json.Unmarshal(b, &prev); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", pn.JSONPath(), err)
	}
	if len(prev.Nodes) > nodes {
		return nil, fmt.Errorf("testnet: %s holds a network of %d nodes: start it with at least %d, or use another directory", pn.dir, len(prev.Nodes), len(prev.Nodes))
	}
	for i, nd := range prev.Nodes {
		if nd.Name != fmt.Sprintf("node%d", i) || len(nd.P2P) == 0 || !strings.HasPrefix(nd.HTTP, "http://") {
			return nil, fmt.Errorf("testnet: %s: node %d is not one this command wrote", pn.JSONPath(), i)
		}
		// Its data is where this Dir has it (the directory may have moved,
		// or been named another way).
		nd.DataDir = filepath.Join(pn.dir, nd.Name)
	}
	return prev.Nodes, nil
}

// resume starts the nodes of a previous network again, all at once.
func (pn *ProcessNetwork) resume(ctx context.Context, o ProcessOptions, prev []*ProcessNode) error {
	if len(prev) == 0 {
		return nil
	}
	// One that fails (its port taken meanwhile, say) stops the others
	// waiting for it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pn.Nodes = make([]*ProcessNode, len(prev))
	errs := make([]error, len(prev))
	var wg sync.WaitGroup
	// node0 first, until it listens: the others' bootstrap dials it once.
	listening := make(chan struct{})
	for i, old := range prev {
		listen, _, _ := strings.Cut(old.P2P[0], "/p2p/")
		bootstrap := ""
		if i > 0 {
			bootstrap = prev[0].P2P[0]
		}
		extra := o.ExtraArgs
		if i == 0 {
			extra = append(o.founderArgs(), extra...)
		}
		s3Addr := strings.TrimPrefix(old.S3, "http://")
		if s3Addr == "" { // a testnet.json from before the gateway
			s3Addr = "127.0.0.1:" + port(o.S3BasePort, i)
		}
		args := daemonArgs(old.DataDir, strings.TrimPrefix(old.HTTP, "http://"), s3Addr, listen, bootstrap, extra)
		if i == 0 {
			go func() {
				defer close(listening)
				if err := awaitListening(ctx, listen); err != nil {
					cancel()
				}
			}()
		} else {
			select {
			case <-listening:
			case <-ctx.Done():
			}
		}
		wg.Go(func() {
			if pn.Nodes[i], errs[i] = run(ctx, o, old.Name, old.DataDir, args); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	pn.Nodes = slices.DeleteFunc(pn.Nodes, func(n *ProcessNode) bool { return n == nil }) // for Stop
	var all []error
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			all = append(all, fmt.Errorf("testnet: start node%d again: %w", i, err))
		}
	}
	if len(all) == 0 && ctx.Err() != nil {
		all = append(all, fmt.Errorf("testnet: start the network again: %w", ctx.Err()))
	}
	return errors.Join(all...)
}

// awaitListening waits until something accepts TCP connections at the
// multiaddr /ip4/HOST/tcp/PORT, or ctx ends.
func awaitListening(ctx context.Context, addr string) error {
	m, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		return err
	}
	_, hostport, err := manet.DialArgs(m)
	if err != nil {
		return err
	}
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", hostport)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func port(base, i int) string {
	if base == 0 {
		return "0"
	}
	return fmt.Sprint(base + i)
}

func (pn *ProcessNetwork) startOne(ctx context.Context, o ProcessOptions, i int) (*ProcessNode, error) {
	name := fmt.Sprintf("node%d", i)
	dir := filepath.Join(o.Dir, name)
	bootstrap := ""
	extra := o.ExtraArgs
	var env []string
	if i == 0 {
		extra = append(o.founderArgs(), extra...)
	} else {
		bootstrap = pn.Nodes[0].P2P[0]
		invite, err := Invite(o.Dir, dir)
		if err != nil {
			return nil, err
		}
		// In the environment, not the arguments, which ps shows to all.
		env = []string{"DDS_INVITE=" + invite}
	}
	args := daemonArgs(dir, "127.0.0.1:"+port(o.HTTPBasePort, i), "127.0.0.1:"+port(o.S3BasePort, i), "/ip4/127.0.0.1/tcp/"+port(o.P2PBasePort, i), bootstrap, extra)
	return run(ctx, o, name, dir, args, env...)
}

// daemonArgs are the arguments of a `dds daemon` of the network: its data
// dir, HTTP address, S3 gateway address, libp2p address, the peer it joins
// through (none for the first node) and the options' extra flags.
func daemonArgs(dir, httpAddr, s3Addr, p2pAddr, bootstrap string, extra []string) []string {
	args := []string{"daemon", "--data-dir", dir, "--http-addr", httpAddr, "--s3-addr", s3Addr, "--p2p-addr", p2pAddr, "--log-format", "json"}
	if bootstrap != "" {
		args = append(args, "--bootstrap", bootstrap)
	}
	return append(args, extra...)
}

// daemonProcs is the GOMAXPROCS of each of n daemons sharing this
// machine's cores: 4 x cores / n rounded up, at least 1, or 0 (the Go
// runtime's default, all the cores) when that is no fewer than the cores.
// On 2 cores: the default up to 7 daemons, 1 from 8 on. A daemon's runtime spins
// threads looking for work and wakes them for each goroutine it hands
// over; with many daemons and few cores that is paid many times over for
// nothing, since the daemons' own concurrency already fills the cores. 32
// daemons on 2 cores (cmd/dds BenchmarkTestnetQuote) at 1 instead of 2:
// idle 0.48 -> 0.37 cores, quote p99 41-58 -> 30-35 ms. A GOMAXPROCS in
// the environment wins.
func daemonProcs(n int) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0
	}
	cores := runtime.GOMAXPROCS(0)
	p := (4*cores + n - 1) / n
	if p >= cores {
		return 0
	}
	return max(1, p)
}

// run starts one daemon with args (and env, more environment variables)
// and waits until it serves.
func run(ctx context.Context, o ProcessOptions, name, dir string, args []string, env ...string) (*ProcessNode, error) {
	cmd := exec.Command(o.Binary, args...)
	// Its own process group (a terminal's Ctrl-C reaches us, and we stop the
	// children in order), and SIGKILL when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A user's DDS_BILLING_TOKEN (the README exports one for the CLI) is
	// not every node's token: each keeps its own.
	cmd.Env = append(os.Environ(), "DDS_CONFIG=", "DDS_NODE=", "DDS_INVITE=", "DDS_BILLING_TOKEN=", "DDS_ADMISSION_KEY=")
	cmd.Env = append(cmd.Env, env...)
	if p := daemonProcs(o.Nodes); p > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", p))
	}
	logw, closeLog := o.Stderr, func() {}
	if o.LogFiles {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(LogFile(dir), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open the log: %w", err)
		}
		logw, closeLog = f, func() { f.Close() }
	}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = logw
	if err := cmd.Start(); err != nil {
		closeLog()
		return nil, err
	}
	pnode := &ProcessNode{Name: name, DataDir: dir, PID: cmd.Process.Pid, cmd: cmd, done: make(chan error, 1), opts: o, args: args,
		exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		pnode.exitErr = err
		close(pnode.exited)
		pnode.done <- err
		pw.Close()
	}()
	urlc, s3c := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "dds: s3 gateway "); ok && !sent {
				select {
				case s3c <- strings.TrimSpace(u):
				default:
				}
				continue
			}
			if u, ok := strings.CutPrefix(line, "dds: serving "); ok && !sent {
				urlc <- strings.TrimSpace(u)
				sent = true
				continue
			}
			if o.LogFiles {
				fmt.Fprintln(logw, line)
			} else {
				fmt.Fprintf(o.Stderr, "%s: %s\n", name, line)
			}
		}
		io.Copy(io.Discard, pr)
		closeLog()
	}()
	select {
	case pnode.HTTP = <-urlc:
		// The daemon says where its gateway is before it says it serves.
		select {
		case pnode.S3 = <-s3c:
		default:
		}
	case err := <-pnode.done:
		pnode.done <- err
		return pnode, fmt.Errorf("daemon exited before serving: %v", err)
	case <-ctx.Done():
		return pnode, ctx.Err()
	}
	c, err := client.New(pnode.HTTP)
	if err != nil {
		return pnode, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return pnode, err
	}
	pnode.PeerID, pnode.P2P = info.PeerID, loopbackFirst(info.Addrs)
	tok, err := os.ReadFile(node.TokenFile(dir))
	if err != nil {
		return pnode, fmt.Errorf("read billing token: %w", err)
	}
	pnode.BillingToken = strings.TrimSpace(string(tok))
	return pnode, nil
}

// loopbackFirst keeps TCP addresses on loopback first (the others follow).
func loopbackFirst(addrs []string) []string {
	var lo, rest []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "/ip4/127.") && strings.Contains(a, "/tcp/") {
			lo = append(lo, a)
		} else {
			rest = append(rest, a)
		}
	}
	return append(lo, rest...)
}

// waitUp waits until every node reports up and lists every node in its
// billing quorum; it records each node's role.
func (pn *ProcessNetwork) waitUp(ctx context.Context) error {
	for {
		ready := 0
		for _, nd := range pn.Nodes {
			c, err := client.New(nd.HTTP)
			if err != nil {
				return err
			}
			st, err := c.Status(ctx)
			if err != nil || st.Status != "up" {
				continue
			}
			info, err := c.Info(ctx)
			if err != nil || len(info.Quorum) != len(pn.Nodes) {
				continue
			}
			for _, m := range info.Quorum {
				for _, o := range pn.Nodes {
					if o.PeerID == m.PeerID {
						o.Role = m.Role
					}
				}
			}
			ready++
		}
		if ready == len(pn.Nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: %d of %d nodes up with the whole quorum: %w", ready, len(pn.Nodes), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// JSONPath is where the network's description is written.
func (pn *ProcessNetwork) JSONPath() string { return filepath.Join(pn.dir, "testnet.json") }

func (pn *ProcessNetwork) writeJSON() error {
	b, err := json.MarshalIndent(pn, "", "  ")
	if err != nil {
		return err
	}
	tmp := pn.JSONPath() + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, pn.JSONPath())
}

// Kill sends SIGKILL to node i and reaps it: a crash.
func (pn *ProcessNetwork) Kill(i int) error {
	nd := pn.Nodes[i]
	if err := nd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	nd.killed = true
	err := <-nd.done
	nd.done <- err
	return nil
}

// Pause stops node i with SIGSTOP (it keeps its connections but answers
// nothing); Resume lets it go on with SIGCONT.
func (pn *ProcessNetwork) Pause(i int) error { return pn.Nodes[i].cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused node.
func (pn *ProcessNetwork) Resume(i int) error { return pn.Nodes[i].cmd.Process.Signal(syscall.SIGCONT) }

// Restart starts a killed or stopped node i again on its data dir, with its
// HTTP and S3 ports (its libp2p port is chosen anew unless a base port was given,
// and the node rejoins through another node). testnet.json is rewritten.
func (pn *ProcessNetwork) Restart(ctx context.Context, i int) error {
	old := pn.Nodes[i]
	args := slices.Clone(old.args)
	for j := range args {
		switch {
		case args[j] == "--http-addr":
			args[j+1] = strings.TrimPrefix(old.HTTP, "http://")
		case args[j] == "--s3-addr" && old.S3 != "":
			args[j+1] = strings.TrimPrefix(old.S3, "http://")
		}
	}
	if !slices.Contains(args, "--bootstrap") {
		for k, o := range pn.Nodes {
			if k != i {
				args = append(args, "--bootstrap", o.P2P[0])
				break
			}
		}
	}
	nd, err := run(ctx, old.opts, old.Name, old.DataDir, args)
	if err != nil {
		// One that started but does not serve is not left behind.
		if nd != nil && nd.cmd != nil {
			_ = syscall.Kill(-nd.PID, syscall.SIGKILL)
			<-nd.exited
		}
		return fmt.Errorf("testnet: restart %s: %w", old.Name, err)
	}
	nd.Role = old.Role
	pn.Nodes[i] = nd
	return pn.writeJSON()
}

// Died waits until a daemon of the network exits unasked (not by Kill or
// Stop), or ctx ends (-1). It returns the node's index and how it exited;
// nodes that ignore says true of are not watched. Call it from the
// goroutine that calls Kill, Restart and Stop (it reads what they mark).
func (pn *ProcessNetwork) Died(ctx context.Context, ignore func(i int) bool) (int, error) {
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
	index := []int{-1}
	for i, nd := range pn.Nodes {
		if nd.exited == nil || nd.killed || nd.stopping || ignore != nil && ignore(i) {
			continue
		}
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(nd.exited)})
		index = append(index, i)
	}
	chosen, _, _ := reflect.Select(cases)
	if chosen == 0 {
		return -1, ctx.Err()
	}
	i := index[chosen]
	return i, pn.Nodes[i].exitErr
}

// Stop stops every daemon: SIGTERM, then SIGKILL for any still running
// after 30 s. It returns once none is left.
func (pn *ProcessNetwork) Stop() error {
	var errs []error
	for _, nd := range pn.Nodes {
		nd.stopping = true
	}
	for _, nd := range pn.Nodes {
		if nd.cmd != nil && nd.cmd.Process != nil && !nd.killed {
			_ = nd.cmd.Process.Signal(syscall.SIGCONT) // a paused node must see the SIGTERM
			_ = nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(30 * time.Second)
	for _, nd := range pn.Nodes {
		if nd.cmd == nil {
			continue
		}
		select {
		case err := <-nd.done:
			if err != nil && !nd.killed {
				errs = append(errs, fmt.Errorf("%s: %w", nd.Name, err))
			}
		case <-deadline:
			_ = syscall.Kill(-nd.PID, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("%s: killed after 30 s", nd.Name))
			<-nd.done
		}
	}
	return errors.Join(errs...)
}
