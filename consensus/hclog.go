package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// hclogAdapter is an hclog.Logger (raft's logger) that writes to a
// *slog.Logger. Only records at or above its level (Warn by default: raft is
// chatty) reach slog.
type hclogAdapter struct {
	log   *slog.Logger
	name  string
	args  []any
	level *atomic.Int32
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogger(l *slog.Logger, level hclog.Level) *hclogAdapter {
	lv := new(atomic.Int32)
	lv.Store(int32(level))
	return &hclogAdapter{log: l, level: lv}
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	floor := hclog.Level(a.level.Load())
	return floor != hclog.Off && l != hclog.Off && l >= floor
}

// routine are raft's warnings that every healthy group logs: a follower
// that joins or restarts behind the leader is caught up this way. They
// are logged at Info.
var routine = map[string]bool{
	"failed to get previous log":                 true,
	"appendEntries rejected, sending older logs": true,
}

// peerUnreachable are raft's errors for an RPC to a peer that failed: the
// peer is down, restarting or cut off, which in a peer-to-peer network is
// news about that peer (the status feed reports it too), not a fault of
// this node. They are logged at Warn; raft retries them with a backoff.
// Faults of this node's own log or snapshots stay errors.
var peerUnreachable = map[string]bool{
	"failed to heartbeat to":                  true,
	"failed to appendEntries to":              true,
	"failed to pipeline appendEntries":        true,
	"failed to start pipeline replication to": true,
	"failed to decode incoming command":       true, // a peer's stream broke
}

// transportShutdown reports whether args carry raft's error for this
// node's own transport closing: what a node that stops logs about the
// streams it had open, at Info.
func transportShutdown(args []any) bool {
	for _, v := range args {
		if err, ok := v.(error); ok && errors.Is(err, raft.ErrTransportShutdown) {
			return true
		}
	}
	return false
}

// firstElection reports raft's warning that a follower heard from no
// leader and stands for election when it never knew one: what a new
// group (a node that bootstraps, a network that starts) does first, not a
// leader lost.
func firstElection(msg string, args []any) bool {
	if msg != "heartbeat timeout reached, starting election" {
		return false
	}
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "last-leader-id" {
			return fmt.Sprint(args[i+1]) == ""
		}
	}
	return false
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level == hclog.Warn && (routine[msg] || firstElection(msg, args)) {
		level = hclog.Info
	}
	if level == hclog.Error && peerUnreachable[msg] {
		level = hclog.Warn
		if transportShutdown(args) {
			level = hclog.Info
		}
	}
	if !a.enabled(level) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	a.log.Log(context.Background(), slogLevel(level), msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }
func (a *hclogAdapter) GetLevel() hclog.Level      { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer whose lines are logged at Warn, the level
// raft's few standard-logger users (errors from libraries) deserve.
func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return lineWriter{a}
}

type lineWriter struct{ a *hclogAdapter }

func (w lineWriter) Write(p []byte) (int, error) {
	w.a.Warn(string(bytes.TrimRight(p, "\r\n")))
	return len(p), nil
}
