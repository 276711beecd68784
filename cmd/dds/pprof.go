package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves the runtime profiles of net/http/pprof on a mux of
// their own, for `dds daemon --pprof-addr`. They never share the API's
// port: whoever reaches the API would otherwise read the command line,
// the heap and goroutine stacks, and could keep a CPU profile running.
// (Importing net/http/pprof also registers them on http.DefaultServeMux,
// which the daemon never serves.)
func pprofServer(logger *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{
		Handler: mux,
		// No write timeout: a CPU profile or a trace takes as many
		// seconds as it is asked for.
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// loopback reports whether the listener's address is a loopback one: the
// profiles are for the operator, so any other gets a warning.
func loopback(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}
