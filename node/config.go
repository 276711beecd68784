package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Clock tells the time. Tests inject one they can move.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// SystemClock is the wall clock, in UTC.
var SystemClock Clock = systemClock{}

// Config is a node's configuration. Start from [DefaultConfig].
type Config struct {
	DataDir   string   // chunks, ledger, identity key, billing token
	HTTPAddr  string   // the external API's address, advertised to peers and in /info
	P2PAddrs  []string // libp2p listen multiaddrs (expanded with p2p.ListenAddrsFor)
	Bootstrap []string // multiaddrs with /p2p/ID of nodes to join
	// Invite is this node's invite to the network it joins (billing.Invite's
	// text, from `dds invite`); a member started again needs none.
	Invite string
	// AdmissionKey is the file of the admission key a node that founds a
	// network makes (or takes, when it exists) to sign invites; empty:
	// admission.key in DataDir.
	AdmissionKey string
	// ProcessorKey is the payment processor's raw ed25519 public key, for
	// a node that founds a network: every payment of the network then
	// needs the processor's signature. Nil: the billing token suffices.
	ProcessorKey []byte
	BillingToken string // bearer token for POST /payments; empty: generated once and kept in DataDir
	MaxUpload    int64  // largest accepted file, bytes
	Capacity     int64  // bytes this node offers to the network
	// NoBallast keeps the room the node needs for its index and ledger
	// free without holding it as an allocated file (chunk.Options.NoBallast):
	// for the nodes of in-process test networks, 130 MiB of disk each.
	NoBallast bool
	Replicas  int  // holders per paid file (a network setting for a new network)
	Dev       bool // a one-node network that attests its own quotes

	// S3Term is the storage term of an object put through the S3 gateway,
	// in seconds (0: DefaultDuration); S3StoreTimeout bounds how long a
	// PutObject waits for its object to be stored on its holders (0: 10
	// minutes).
	S3Term         int64
	S3StoreTimeout time.Duration

	ExpiryInterval time.Duration // how often leases and quotes are swept (and the ledger's voters kept)
	GCInterval     time.Duration // how often unpinned chunks are collected
	StatusInterval time.Duration // how often the node publishes its status to its peers
	PeerTimeout    time.Duration // a peer silent on the status feed this long is gone
	AuditInterval  time.Duration // how often a holder challenges the other holders of its files
	AuditTimeout   time.Duration // how long a challenged holder has to answer; no answer is a failure
	// RepairGiveUp is how long a chunk of this store that went bad may go
	// without a good copy from another holder (tried again every fifth of
	// it) before the node releases its holdings of the files that contain
	// it: it can no longer serve them, and the ledger must not say it
	// holds them; placement then finds them another holder.
	RepairGiveUp time.Duration

	// NonVoterNice is how much lower a CPU priority (how much higher a nice
	// value) the process takes while the node is a non-voter of the ledger,
	// over the one it started with; 0 leaves the priority alone. Most of a
	// non-voter's work (applying entries already committed) holds up no
	// quote, while the voters' commits are in every one; the attestations
	// a non-voter signs run at the lower priority too, and quotes still
	// gained, those made at a non-voter included. The priority is
	// the whole process's: set it only for a process that runs one node
	// (`dds daemon` does), never for nodes sharing one (tests).
	NonVoterNice int

	Clock  Clock
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of spec/cli.md.
func DefaultConfig() Config {
	return Config{
		DataDir:        "~/.dds",
		HTTPAddr:       "127.0.0.1:7070",
		P2PAddrs:       []string{"/ip4/0.0.0.0/tcp/7071"},
		MaxUpload:      10 << 30,
		Capacity:       100 << 30,
		Replicas:       3,
		ExpiryInterval: 5 * time.Second,
		GCInterval:     time.Minute,
		StatusInterval: 2 * time.Second,
		PeerTimeout:    15 * time.Second,
		AuditInterval:  30 * time.Second,
		AuditTimeout:   10 * time.Second,
		RepairGiveUp:   10 * time.Minute,
		Clock:          SystemClock,
		Logger:         slog.Default(),
	}
}

// Validate reports the first problem with c, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if len(c.P2PAddrs) == 0 {
		errs = append(errs, errors.New("p2p-addr: at least one address is needed"))
	}
	if c.MaxUpload <= 0 {
		errs = append(errs, fmt.Errorf("max-upload: must be positive, got %d", c.MaxUpload))
	}
	if c.Capacity <= 0 {
		errs = append(errs, fmt.Errorf("capacity: must be positive, got %d", c.Capacity))
	}
	if c.Replicas < 1 {
		errs = append(errs, fmt.Errorf("replicas: must be at least 1, got %d", c.Replicas))
	}
	if c.ExpiryInterval <= 0 || c.GCInterval <= 0 || c.StatusInterval <= 0 || c.AuditInterval <= 0 || c.AuditTimeout <= 0 || c.RepairGiveUp <= 0 {
		errs = append(errs, errors.New("expiry, GC, status and audit intervals and the audit timeout must be positive"))
	}
	if c.NonVoterNice < 0 || c.NonVoterNice > 2*maxNice+1 {
		errs = append(errs, fmt.Errorf("non-voter nice %d is not in 0..%d", c.NonVoterNice, 2*maxNice+1))
	}
	if c.PeerTimeout < 2*c.StatusInterval {
		errs = append(errs, fmt.Errorf("peer timeout %v must be at least twice the status interval %v", c.PeerTimeout, c.StatusInterval))
	}
	if c.Invite != "" && len(c.Bootstrap) == 0 {
		errs = append(errs, errors.New("invite: an invite is for joining a network: give --bootstrap too"))
	}
	if c.Dev && len(c.Bootstrap) > 0 {
		errs = append(errs, errors.New("dev: a --dev node is a network of one and cannot --bootstrap"))
	}
	return errors.Join(errs...)
}
