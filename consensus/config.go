package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a [Ledger]. Start from [DefaultConfig] and set Dir, ID
// and Layer.
type Config struct {
	// Dir holds raft's files: logs and stable state in "wal/" (raft-wal,
	// synced writes) and snapshots in "snapshots/".
	Dir string
	// SegmentSize is the size of the log's segment files (raft-wal's 64 MiB
	// when zero). Compaction frees whole segments: entries a snapshot
	// covers stay readable until their segment goes.
	SegmentSize int
	// ID is this node's server id: its peer id string.
	ID string
	// Layer is the transport's stream layer (p2p.Host.RaftLayer()). Its
	// Addr is this node's server address; the Ledger closes it on Close.
	Layer raft.StreamLayer
	// Bootstrap starts a new group with this node as its only voter when Dir
	// holds no raft state. With existing state the group is recovered from
	// disk whatever Bootstrap says.
	Bootstrap bool
	// Logger receives raft's records at Warn and above; nil discards them.
	Logger *slog.Logger

	// Forwarder carries [Ledger.Apply] on a follower to the leader. nil:
	// Apply on a follower answers [ErrNotLeader].
	Forwarder Forwarder
	// MaxVoters is the number of voters the group grows to (by
	// [Ledger.Join]) and keeps (by [Ledger.Maintain]); later members are
	// non-voters. 0 means 5.
	MaxVoters int

	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// SnapshotThreshold is the number of log entries between snapshots.
	SnapshotThreshold uint64
	// TrailingLogs is the number of entries kept after a snapshot, so that
	// slightly lagging followers catch up from the log.
	TrailingLogs uint64

	// ApplyTimeout bounds a whole [Ledger.Apply]: waiting for a leader,
	// enqueueing and commit.
	ApplyTimeout time.Duration
	// LeaderWait is how long Apply waits for a leader to appear when none is
	// known before it answers [ErrNoLeader]; at most ApplyTimeout.
	LeaderWait time.Duration

	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and CommitTimeout
	// are raft's timing (see raft.Config), sized for loopback and LAN.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// MaxAppendEntries caps the entries per AppendEntries RPC and per batch
	// written to the log.
	MaxAppendEntries int

	// NonVoterDelay holds the leader's appends to non-voters back about
	// this long (half to one and a half times), so that each carries the
	// entries of that span after they committed (see batchingTransport);
	// 0 sends them at once.
	NonVoterDelay time.Duration
	// NonVoterIdle is how often, at most, an idle leader contacts a
	// non-voter: its appends that carry no entry wait until this long has
	// passed since the last RPC to it, and its heartbeats twice as long
	// (see batchingTransport); 0 leaves raft's pace. Capped at half the
	// HeartbeatTimeout, so that the non-voter keeps knowing the leader.
	NonVoterIdle time.Duration

	// TransportTimeout is the I/O deadline of a Raft RPC.
	TransportTimeout time.Duration
	// MaxPool is the number of idle connections kept per peer.
	MaxPool int
}

// DefaultConfig returns sensible values for a node; Dir, ID and Layer are
// left empty.
func DefaultConfig() Config {
	return Config{
		SnapshotInterval:   30 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       4096,
		ApplyTimeout:       3 * time.Second,
		LeaderWait:         time.Second,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		// How often an idle leader tells its followers the commit index:
		// raft's default. At 10 ms, a 32-node network on 2 cores spent
		// 1.07 cores idle (31 followers, 50-100 appends a second each),
		// 0.88 at 50 ms; reads that must see the newest writes catch up
		// with the leader instead (node's catchUp).
		CommitTimeout:    50 * time.Millisecond,
		MaxAppendEntries: 256,
		// Non-voters get their appends in batches: fewer, larger
		// appends and fsyncs, and larger batches of signatures to check
		// (billing checks a batch at 18 us a signature against 35 alone,
		// BenchmarkVerifySig), which count most where many non-voters
		// share few cores (cmd/dds BenchmarkTestnetQuote; the tuning is
		// in PERF.md). A non-voter's replica trails by up to 300 ms more;
		// a read that must see the newest writes has the leader flush
		// its appends (Ledger.FlushTo) rather than wait.
		NonVoterDelay:    200 * time.Millisecond,
		NonVoterIdle:     200 * time.Millisecond,
		TransportTimeout: 10 * time.Second,
		MaxPool:          3,
		MaxVoters:        defaultMaxVoters,
	}
}

// Validate reports what is missing or inconsistent in c.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir is empty"))
	}
	if c.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if c.Layer == nil {
		errs = append(errs, errors.New("layer is nil"))
	}
	if c.ApplyTimeout <= 0 {
		errs = append(errs, errors.New("apply timeout must be positive"))
	}
	if c.LeaderWait < 0 || c.LeaderWait > c.ApplyTimeout {
		errs = append(errs, errors.New("leader wait must be between 0 and the apply timeout"))
	}
	if c.TransportTimeout <= 0 {
		errs = append(errs, errors.New("transport timeout must be positive"))
	}
	if c.NonVoterDelay < 0 {
		errs = append(errs, errors.New("non-voter delay must not be negative"))
	}
	if c.NonVoterIdle < 0 {
		errs = append(errs, errors.New("non-voter idle must not be negative"))
	}
	if c.MaxPool <= 0 {
		errs = append(errs, errors.New("max pool must be positive"))
	}
	if c.MaxVoters < 0 {
		errs = append(errs, errors.New("max voters must not be negative"))
	}
	if c.SnapshotThreshold == 0 {
		errs = append(errs, errors.New("snapshot threshold must be positive"))
	}
	if c.TrailingLogs == 0 {
		errs = append(errs, errors.New("trailing logs must be positive"))
	}
	rc := c.raftConfig(nil)
	if err := raft.ValidateConfig(rc); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid consensus config: %w", err)
	}
	return nil
}

// defaultMaxVoters is the group's voter count when MaxVoters is 0: five
// voters survive two failures.
const defaultMaxVoters = 5

func (c Config) maxVoters() int {
	if c.MaxVoters <= 0 {
		return defaultMaxVoters
	}
	return c.MaxVoters
}

func (c Config) raftConfig(logger *hclogAdapter) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	if rc.LocalID == "" {
		// Validate reports the empty id itself; keep raft's check quiet.
		rc.LocalID = "unset"
	}
	if logger != nil {
		rc.Logger = logger
	}
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.MaxAppendEntries = c.MaxAppendEntries
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	return rc
}
