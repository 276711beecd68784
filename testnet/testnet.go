package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/node/httpapi"
	"github.com/ddsnet/dds/node/s3"
)

// Options configures a network. Zero fields take defaults.
type Options struct {
	Nodes    int    // default 4
	Dir      string // parent of the nodes' data dirs (required)
	Replicas int    // default 3
	Logger   *slog.Logger
	// Config, when set, adjusts each node's configuration before it starts.
	Config func(i int, cfg *node.Config)
}

// Node is one running node of a [Network].
type Node struct {
	Name    string
	Node    *node.Node
	URL     string   // its HTTP API
	S3URL   string   // its S3 gateway
	P2P     []string // its libp2p addresses, with /p2p/ID
	DataDir string
	Token   string

	cfg      node.Config
	httpAddr string // the HTTP API's address, kept across a restart
	s3Addr   string // the gateway's address, likewise
	srv      *http.Server
	s3srv    *http.Server
	ln       net.Listener
	wg       sync.WaitGroup
}

// Network is a running local network.
type Network struct {
	Nodes []*Node
	opts  Options
}

// Start starts opts.Nodes nodes in this process and returns once every
// node serves and the ledger's Raft group holds them all.
func Start(ctx context.Context, opts Options) (*Network, error) {
	if opts.Dir == "" {
		return nil, errors.New("testnet: Dir is required")
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 4
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	nw := &Network{opts: opts}
	for i := range opts.Nodes {
		cfg := node.DefaultConfig()
		cfg.DataDir = filepath.Join(opts.Dir, fmt.Sprintf("node%d", i))
		cfg.NoBallast = true // a test network of 32 nodes held 4 GiB of ballast
		cfg.P2PAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		cfg.Replicas = opts.Replicas
		cfg.Logger = opts.Logger.With("node", i)
		if i == 0 {
			cfg.AdmissionKey = AdmissionKeyPath(opts.Dir)
		} else {
			cfg.Bootstrap = nw.Nodes[0].P2P[:1]
			invite, err := Invite(opts.Dir, cfg.DataDir)
			if err != nil {
				nw.Close()
				return nil, err
			}
			cfg.Invite = invite
		}
		if opts.Config != nil {
			opts.Config(i, &cfg)
		}
		nd := &Node{Name: fmt.Sprintf("node%d", i), DataDir: cfg.DataDir, cfg: cfg}
		if err := nd.start(ctx); err != nil {
			nw.Close()
			return nil, fmt.Errorf("testnet: start %s: %w", nd.Name, err)
		}
		nw.Nodes = append(nw.Nodes, nd)
	}
	if err := nw.WaitUp(ctx); err != nil {
		nw.Close()
		return nil, err
	}
	return nw, nil
}

// start runs the node, its HTTP API and its S3 gateway, each on a free
// loopback port (the same ones again on a restart).
func (nd *Node) start(ctx context.Context) (err error) {
	httpAddr := nd.httpAddr
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	s3Addr := nd.s3Addr
	if s3Addr == "" {
		s3Addr = "127.0.0.1:0"
	}
	s3ln, err := net.Listen("tcp", s3Addr)
	if err != nil {
		ln.Close()
		return err
	}
	var n *node.Node
	defer func() {
		if err != nil {
			ln.Close()
			s3ln.Close()
			if n != nil {
				n.Close()
			}
		}
	}()
	cfg := nd.cfg
	cfg.HTTPAddr = ln.Addr().String()
	if n, err = node.New(cfg); err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collectors()...)
	hc := httpapi.DefaultConfig()
	hc.Service, hc.Records, hc.BillingToken = n, n.Records(), n.BillingToken()
	hc.MaxUpload, hc.Registry, hc.Logger, hc.Version = cfg.MaxUpload, reg, cfg.Logger, node.Version
	hc.SpoolDir = n.SpoolDir()
	hc.S3Endpoint = "http://" + s3ln.Addr().String()
	h, err := httpapi.New(hc)
	if err != nil {
		return err
	}
	st, err := n.S3()
	if err != nil {
		return err
	}
	sc := s3.DefaultConfig()
	sc.Backend, sc.Registry, sc.Logger = st, reg, cfg.Logger.With("sys", "s3")
	sh, err := s3.New(sc)
	if err != nil {
		return err
	}
	nd.Node, nd.Token, nd.URL, nd.ln = n, n.BillingToken(), "http://"+cfg.HTTPAddr, ln
	nd.S3URL, nd.s3Addr = hc.S3Endpoint, s3ln.Addr().String()
	nd.cfg.HTTPAddr, nd.httpAddr = cfg.HTTPAddr, cfg.HTTPAddr // a restart keeps the port
	nd.P2P = nil
	for _, a := range n.Addrs() {
		nd.P2P = append(nd.P2P, a.String())
	}
	nd.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: httpapi.MaxHeaderBytes}
	nd.s3srv = &http.Server{Handler: sh, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: httpapi.MaxHeaderBytes}
	nd.wg.Go(func() { nd.srv.Serve(httpapi.Listener(ln)) })
	nd.wg.Go(func() { nd.s3srv.Serve(s3ln) })
	return nil
}

// stop shuts the HTTP API down and closes the node.
func (nd *Node) stop() error {
	if nd.Node == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := errors.Join(nd.s3srv.Shutdown(ctx), nd.srv.Shutdown(ctx))
	nd.wg.Wait()
	err = errors.Join(err, nd.Node.Close())
	nd.Node = nil
	return err
}

// Stop stops node i (its data dir stays).
func (nw *Network) Stop(i int) error { return nw.Nodes[i].stop() }

// Restart starts a stopped node i again on its data dir and HTTP port.
func (nw *Network) Restart(ctx context.Context, i int) error {
	nd := nw.Nodes[i]
	if nd.Node != nil {
		return fmt.Errorf("testnet: %s is running", nd.Name)
	}
	if i == 0 && len(nw.Nodes) > 1 {
		// The first node rejoins through another one.
		for _, o := range nw.Nodes[1:] {
			if o.Node != nil {
				nd.cfg.Bootstrap = o.P2P[:1]
				break
			}
		}
	}
	return nd.start(ctx)
}

// Partition cuts node i off from the others (both ways) until [Network.Heal].
func (nw *Network) Partition(i int) { nw.Nodes[i].Node.SetIsolated(true) }

// Heal lets node i reach the others again.
func (nw *Network) Heal(i int) { nw.Nodes[i].Node.SetIsolated(false) }

// WaitUp waits until every running node reports up and knows the same
// leader.
func (nw *Network) WaitUp(ctx context.Context) error {
	for {
		up, leaders := 0, map[string]bool{}
		running := 0
		for _, nd := range nw.Nodes {
			if nd.Node == nil {
				continue
			}
			running++
			st := nd.Node.Status(ctx)
			if st.Up {
				up++
			}
			leaders[st.Leader] = true
		}
		if up == running && len(leaders) == 1 && !leaders[""] {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: %d of %d nodes up, leaders %v: %w", up, running, leaders, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops every node.
func (nw *Network) Close() error {
	var errs []error
	for i := len(nw.Nodes) - 1; i >= 0; i-- {
		errs = append(errs, nw.Nodes[i].stop())
	}
	return errors.Join(errs...)
}
