package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	quiet *peerErrors // shared by the loggers With and Named derive
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogger(l *slog.Logger, level hclog.Level) *hclogAdapter {
	lv := new(atomic.Int32)
	lv.Store(int32(level))
	return &hclogAdapter{log: l, level: lv, quiet: newPeerErrors(time.Now)}
}

// peerErrorEvery is how often the same RPC failure to the same peer is
// logged while the peer stays unreachable. raft retries a peer that is
// down with a backoff capped at a few seconds, so a node logged "failed
// to heartbeat to" about 35 times a minute per peer that was down: the
// first failure is news, the rest only say it is still down.
const peerErrorEvery = time.Minute

// peerErrors rate-limits raft's peerUnreachable lines: per message and
// peer, the first is logged, then at most one per peerErrorEvery with
// the number suppressed since the last.
type peerErrors struct {
	now func() time.Time
	mu  sync.Mutex
	by  map[string]*peerErrorState
}

type peerErrorState struct {
	logged     time.Time
	suppressed int
}

func newPeerErrors(now func() time.Time) *peerErrors {
	return &peerErrors{now: now, by: map[string]*peerErrorState{}}
}

// allow reports whether the line msg about peer should be logged, and how
// many like it were suppressed since the last one logged.
func (q *peerErrors) allow(msg, peer string) (bool, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	// Forget what has not been logged for two periods: raft retries a
	// peer that stays down every few seconds at most (its backoff is
	// capped), so that peer answers again, and its next failure is news.
	// The map stays as small as the set of peers failing now.
	for k, st := range q.by {
		if now.Sub(st.logged) > 2*peerErrorEvery {
			delete(q.by, k)
		}
	}
	key := msg + "\x00" + peer
	st, ok := q.by[key]
	if !ok {
		q.by[key] = &peerErrorState{logged: now}
		return true, 0
	}
	if now.Sub(st.logged) < peerErrorEvery {
		st.suppressed++
		return false, 0
	}
	k := st.suppressed
	st.logged, st.suppressed = now, 0
	return true, k
}

// peerArg is the value of raft's "peer" argument (a server address or a
// raft.Server), as text.
func peerArg(args []any) string {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "peer" {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
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
	limited := false
	if level == hclog.Error && peerUnreachable[msg] {
		level = hclog.Warn
		if transportShutdown(args) {
			level = hclog.Info
		} else {
			limited = true
		}
	}
	if !a.enabled(level) {
		return
	}
	var suppressed int
	if limited && a.quiet != nil {
		var ok bool
		if ok, suppressed = a.quiet.allow(msg, peerArg(args)); !ok {
			return
		}
	}
	all := make([]any, 0, len(a.args)+len(args)+4)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	if suppressed > 0 {
		all = append(all, "suppressed", suppressed)
	}
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
