package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/node/httpapi"
	"github.com/ddsnet/dds/node/s3"
)

// shutdownTimeout bounds how long open requests may take to finish once a
// signal asked the daemon to stop.
const shutdownTimeout = 30 * time.Second

type daemonOptions struct {
	dataDir      string
	httpAddr     string
	p2pAddrs     []string
	bootstrap    []string
	invite       string
	admissionKey string
	processorPub string
	billingToken string
	maxUpload    int64
	capacity     int64
	replicas     int
	logLevel     string
	logFormat    string
	dev          bool
	s3Addr       string
	s3Domains    []string
	s3Term       int64
	pprofAddr    string
}

func daemonFlags(fs *flagSet) *daemonOptions {
	d := node.DefaultConfig()
	o := &daemonOptions{}
	fs.String(&o.dataDir, "data-dir", d.DataDir, "DIR", "chunks, ledger, identity key and billing token")
	fs.String(&o.httpAddr, "http-addr", d.HTTPAddr, "HOST:PORT", "address of the external HTTP API (port 0: any free port)")
	fs.List(&o.p2pAddrs, "p2p-addr", d.P2PAddrs, "MULTIADDR", "libp2p listen address; a TCP address gets QUIC on the same port too")
	fs.List(&o.bootstrap, "bootstrap", nil, "MULTIADDR", "address with /p2p/ID of a node of the network to join")
	fs.String(&o.invite, "invite", "", "INVITE", "this node's invite to the network it joins (from dds invite; better in DDS_INVITE than on the command line)")
	fs.String(&o.admissionKey, "admission-key", "", "FILE", "the first node of a new network makes its admission key here (default: admission.key in the data dir)")
	fs.String(&o.processorPub, "processor-public-key", "", "KEY", "the first node of a new network: the payment processor's public key (base64, from dds processor-key); every payment then needs its signature")
	fs.String(&o.billingToken, "billing-token", "", "TOKEN", "bearer token for POST /payments (better in DDS_BILLING_TOKEN than on the command line, where ps shows it); default: generated once and kept in the data dir")
	fs.Size(&o.maxUpload, "max-upload", "10GiB", "largest accepted file (10GiB, 500MB, 1048576)")
	fs.Size(&o.capacity, "capacity", "100GiB", "space this node offers to the network")
	fs.Int(&o.replicas, "replicas", d.Replicas, 1, "nodes that hold each paid file (for a new network)")
	fs.Choice(&o.logLevel, "log-level", "info", []string{"debug", "info", "warn", "error"}, "log level")
	fs.Choice(&o.logFormat, "log-format", "text", []string{"text", "json"}, "log format (json for machines)")
	fs.Bool(&o.dev, "dev", "a one-node network: the node is its own billing quorum and only holder")
	fs.String(&o.s3Addr, "s3-addr", "", "HOST:PORT", "serve the S3 gateway here (port 0: any free port); none: no gateway")
	fs.List(&o.s3Domains, "s3-domain", nil, "DOMAIN", "base domain of virtual-host-style S3 requests (bucket.DOMAIN); path style always works")
	fs.Seconds(&o.s3Term, "s3-term", node.DefaultDuration, "storage term of an object put through the S3 gateway (720h, or seconds)")
	fs.String(&o.pprofAddr, "pprof-addr", "", "HOST:PORT", "serve Go's runtime profiles (/debug/pprof/) here, apart from the API (port 0: any free port); default: none")
	return o
}

func daemonCommand(fs *flagSet) runner {
	o := daemonFlags(fs)
	return o.run
}

// expandHome replaces a leading "~" of path with home.
func expandHome(path, home string) (string, error) {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path, nil
	}
	if home == "" {
		return "", errors.New("cannot expand ~: no home directory (set HOME or --data-dir)")
	}
	return filepath.Join(home, path[1:]), nil
}

// newLogger returns the daemon's logger on w.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // checked by the flag
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemonGCPercent is the daemon's GOGC unless the environment sets one.
// A node's live heap is mostly chunk buffers (bounded by chunk.Options'
// BufferMemory and ReadAheadMemory), which hold no pointers: a GC costs
// little more for them, while Go's default of 100 lets the heap, and the
// resident set with it, grow to twice what is live before a GC, past the
// 150 MiB a node keeps to. aws-cli's defaults (1 GiB in 8 MiB parts, 10 at
// once) through a gateway of a 4-node testnet on 2 cores peaked at 176 MiB
// RSS at 100, 123 at 50 (BenchmarkS3VersusJSONAPI's rss_s3_mpu_cli is the
// same case). Prometheus sets its GOGC to 75 for the same reason.
const daemonGCPercent = 50

// daemonNonVoterNice is the node.Config.NonVoterNice of a daemon, which
// has its process to itself: while a non-voter it runs at nice +5 over the
// one it started with. `dds testnet` puts all its daemons on one machine,
// where the non-voters' work otherwise delayed the voters' commits. 32
// daemons on 2 cores (cmd/dds BenchmarkTestnetQuote, the non-voters' nice
// switched between 0 and 5 every 4 s within a run of 3000 quotes): at 20
// quotes a second (4 runs, one quoting at a non-voter) p98 32-36 -> 25-29
// ms, p99 42-46 -> 32-36; one quote after another (2 runs) p98 27-41 ->
// 22-33, p99 34-53 -> 30-39. Nice +12 did no better than +5.
const daemonNonVoterNice = 5

// config turns the options into the node's configuration.
func (o *daemonOptions) config(home string, logger *slog.Logger) (node.Config, error) {
	cfg := node.DefaultConfig()
	dir, err := expandHome(o.dataDir, home)
	if err != nil {
		return cfg, usagef("--data-dir: %w", err)
	}
	cfg.DataDir = dir
	cfg.HTTPAddr = o.httpAddr
	cfg.P2PAddrs = o.p2pAddrs
	cfg.Bootstrap = o.bootstrap
	cfg.Invite = o.invite
	cfg.AdmissionKey = o.admissionKey
	if cfg.ProcessorKey, err = parseProcessorPublicKey(o.processorPub); err != nil {
		return cfg, err
	}
	cfg.BillingToken = o.billingToken
	cfg.MaxUpload = o.maxUpload
	cfg.Capacity = o.capacity
	cfg.Replicas = o.replicas
	cfg.Dev = o.dev
	cfg.S3Term = o.s3Term
	cfg.NonVoterNice = daemonNonVoterNice
	cfg.Logger = logger
	if err := cfg.Validate(); err != nil {
		return cfg, &usageError{err}
	}
	return cfg, nil
}

func (o *daemonOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	home := a.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	logger := newLogger(a.stderr, o.logLevel, o.logFormat)
	cfg, err := o.config(home, logger)
	if err != nil {
		return err
	}
	if a.getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	return serve(ctx, a, cfg, gatewayOptions{addr: o.s3Addr, domains: o.s3Domains}, o.pprofAddr, logger)
}

// gatewayOptions say where the S3 gateway listens ("": none).
type gatewayOptions struct {
	addr    string
	domains []string
}

// serve runs a node with cfg and its HTTP API (and the S3 gateway, and
// the profiles on pprofAddr, when set) until ctx ends, then shuts down:
// the HTTP servers stop accepting and drain (up to shutdownTimeout), then
// the node closes.
func serve(ctx context.Context, a *app, cfg node.Config, gw gatewayOptions, pprofAddr string, logger *slog.Logger) (err error) {
	// Listen first, so port 0 works and the node advertises the real address.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on --http-addr %s: %w", cfg.HTTPAddr, err)
	}
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	cfg.HTTPAddr = ln.Addr().String()
	var s3ln net.Listener
	if gw.addr != "" {
		if s3ln, err = net.Listen("tcp", gw.addr); err != nil {
			return fmt.Errorf("listen on --s3-addr %s: %w", gw.addr, err)
		}
		defer func() {
			if s3ln != nil {
				s3ln.Close()
			}
		}()
	}
	var pprofLn net.Listener
	if pprofAddr != "" {
		if pprofLn, err = net.Listen("tcp", pprofAddr); err != nil {
			return fmt.Errorf("listen on --pprof-addr %s: %w", pprofAddr, err)
		}
		defer func() {
			if pprofLn != nil {
				pprofLn.Close()
			}
		}()
	}

	n, err := node.New(cfg)
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	defer func() {
		if cerr := n.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close node: %w", cerr))
		}
	}()
	if err := n.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return fmt.Errorf("start node: %w", err)
	}

	reg := prometheus.NewRegistry()
	for _, c := range append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoMetric(a.version),
	}, n.Collectors()...) {
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &already) {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	hc := httpapi.DefaultConfig()
	hc.Service = n
	hc.Records = n.Records()
	hc.BillingToken = n.BillingToken()
	hc.MaxUpload = cfg.MaxUpload
	hc.Registry = reg
	hc.Logger = logger.With("sys", "http")
	hc.Version = a.version
	hc.SpoolDir = n.SpoolDir()
	if s3ln != nil {
		hc.S3Endpoint = "http://" + s3ln.Addr().String()
	}
	h, err := httpapi.New(hc)
	if err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	l := ln
	ln = nil // the server owns it now
	go func() { served <- srv.Serve(httpapi.Listener(l)) }()
	var s3srv *http.Server
	s3served := make(chan error, 1)
	if s3ln != nil {
		if s3srv, err = s3Server(n, reg, gw, logger); err != nil {
			return err
		}
		l := s3ln
		s3ln = nil // the server owns it now
		go func() { s3served <- s3srv.Serve(l) }()
		logger.Info("S3 gateway serving", "url", "http://"+l.Addr().String(), "domains", gw.domains)
	}

	var pprofSrv *http.Server
	pprofServed := make(chan error, 1)
	if pprofLn != nil {
		pprofSrv = pprofServer(logger)
		l := pprofLn
		pprofLn = nil // the server owns it now
		pprofDone := make(chan struct{})
		go func() { pprofServed <- pprofSrv.Serve(l); close(pprofDone) }()
		// Close, not Shutdown, on every way out: a CPU profile being
		// taken holds its request for as long as it was asked to run.
		defer func() { _ = pprofSrv.Close(); <-pprofDone }()
		if !loopback(l) {
			logger.Warn("pprof serves on a non-loopback address: anyone who reaches it reads the node's memory and command line", "addr", l.Addr().String())
		}
		fmt.Fprintf(a.stderr, "dds: pprof http://%s/debug/pprof/\n", l.Addr())
	}

	if a.getenv(faultSignalsEnv) == "1" {
		fctx, cancel := context.WithCancel(ctx)
		stop := watchFaultSignals(fctx, n, logger)
		defer func() { cancel(); stop() }()
	}

	url := "http://" + cfg.HTTPAddr
	info := n.Info(ctx)
	tokenFrom := "--billing-token"
	if cfg.BillingToken == "" {
		tokenFrom = node.TokenFile(cfg.DataDir)
	}
	logger.Info("dds node serving", "peer_id", info.PeerID, "http", url, "p2p", info.Addrs,
		"billing_token", tokenFrom, "data_dir", cfg.DataDir, "dev", cfg.Dev, "version", a.version)
	if s3srv != nil {
		// Before the serving line, which is the last a supervisor (dds
		// testnet) waits for.
		fmt.Fprintf(a.stderr, "dds: s3 gateway %s\n", hc.S3Endpoint)
	}
	fmt.Fprintf(a.stderr, "dds: serving %s\n", url)

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case err := <-s3served:
		return fmt.Errorf("s3 gateway: %w", err)
	case err := <-pprofServed:
		return fmt.Errorf("pprof server: %w", err)
	case <-n.Failed():
		// The ledger's log is damaged: serving on would serve a wrong
		// ledger. The error names the entry, the directory and what to do;
		// the process exits non-zero.
		err = fmt.Errorf("node failed: %w", n.Failure())
		logger.Error("shutting down", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if s3srv != nil {
		if err := s3srv.Shutdown(sctx); err != nil {
			_ = s3srv.Close()
		}
		<-s3served
	}
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("stop http server: %w", err)
	}
	<-served
	return err
}

// s3Server is the HTTP server of the node's S3 gateway.
func s3Server(n *node.Node, reg *prometheus.Registry, gw gatewayOptions, logger *slog.Logger) (*http.Server, error) {
	st, err := n.S3()
	if err != nil {
		return nil, fmt.Errorf("s3 gateway: %w", err)
	}
	sc := s3.DefaultConfig()
	sc.Backend = st
	sc.BaseDomains = gw.domains
	sc.Registry = reg
	sc.Logger = logger.With("sys", "s3")
	h, err := s3.New(sc)
	if err != nil {
		return nil, fmt.Errorf("s3 gateway: %w", err)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpapi.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}, nil
}
