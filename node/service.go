package node

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/chunk"
)

// Status says whether the node can take writes: the ledger must have a
// leader and the network enough nodes to attest quotes.
func (n *Node) Status(_ context.Context) Status {
	st := Status{Leader: n.raft.Leader(), Index: n.ledger.Index(), DiskFull: n.diskFull()}
	st.Behind = n.behind()
	s, ok := n.settings()
	var removed bool
	n.ledger.Read(func(l *billing.State) { removed = l.Removed(n.PeerID()) })
	switch {
	case !ok:
		st.Reason = "the network is not initialised"
	case removed:
		st.Reason = "this node was removed from the network (by its admission key): the other nodes no longer serve it"
	case st.Leader == "":
		st.Reason = "the billing ledger has no leader"
	default:
		if err := n.canQuote(s); err != nil {
			st.Reason = err.Error()
		} else {
			st.Up = true
		}
	}
	return st
}

// behind is how far the ledger's log applied here lags the highest index
// this node knows of: raft's commit index (a follower far behind knows
// only the part of the log it holds) and the indexes its live peers
// published on the feed (of commands only, and a few seconds old: never
// ahead of the log).
func (n *Node) behind() uint64 {
	applied := n.raft.AppliedIndex()
	top := n.raft.CommitIndex()
	if n.feed != nil {
		for _, p := range n.feed.Live(n.cfg.PeerTimeout) {
			top = max(top, p.Status.LedgerIndex)
		}
	}
	if top <= applied {
		return 0
	}
	return top - applied
}

// MaxTerm is the network's longest storage term in seconds (0 before the
// network is initialised).
func (n *Node) MaxTerm(context.Context) int64 {
	s, _ := n.settings()
	return s.MaxTerm
}

// Info describes the node and the network's settings.
func (n *Node) Info(_ context.Context) api.Info {
	s, _ := n.settings()
	info := api.Info{
		Name:        "dds",
		Description: "a peer-to-peer storage network with paid, agreed storage",
		Version:     Version,
		PeerID:      n.PeerID(),
		Prices: api.PriceTable{
			Rate:          api.Tokens(s.Rate),
			MinimumPrice:  api.Tokens(s.MinPrice),
			QuoteLifetime: s.QuoteLifetime,
			MaxTerm:       s.MaxTerm,
		},
		Replicas:  s.Replicas,
		ChunkSize: s.ChunkSize,
		Capacity:  n.cfg.Capacity,
		Free:      n.free(),
		Stored:    n.store.Usage().Bytes,
		MaxUpload: n.cfg.MaxUpload,
		Dev:       s.SelfAttest,
		Threshold: s.Threshold,

		LapsedQuoteRetention: s.LapsedQuoteRetention,
		TombstoneRetention:   s.TombstoneRetention,
	}
	for _, a := range n.host.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	rs := n.raft.Status()
	role := map[string]string{}
	for _, v := range rs.Voters {
		role[v] = "voter"
	}
	for _, v := range rs.NonVoters {
		role[v] = "nonvoter"
	}
	n.ledger.Read(func(st *billing.State) {
		for _, nd := range st.Nodes() {
			r := role[nd.PeerID]
			if r == "" {
				r = "registered"
			}
			info.Quorum = append(info.Quorum, api.Member{
				PeerID: nd.PeerID, PublicKey: base64.StdEncoding.EncodeToString(nd.PublicKey), Role: r, HTTP: nd.HTTP,
			})
		}
	})
	return info
}

// LedgerHash is the hash of this node's replica of the ledger: equal on
// every node that applied the same commands.
func (n *Node) LedgerHash() [32]byte {
	var h [32]byte
	n.ledger.Read(func(st *billing.State) { h = st.Hash() })
	return h
}

// CollectGarbage removes the chunks nothing pins any more now, rather than
// at the next GC tick.
func (n *Node) CollectGarbage(ctx context.Context) (chunk.GCStats, error) {
	return n.store.GC(ctx)
}

// SetIsolated cuts the node off from its peers, or lets it back: a fault
// for tests of network partitions.
func (n *Node) SetIsolated(on bool) { n.host.SetIsolated(on) }

// Addrs are the node's libp2p addresses, with /p2p/ID, loopback first.
func (n *Node) Addrs() []multiaddr.Multiaddr { return n.host.Addrs() }

// Libp2p is the node's libp2p host, for tools and tests that speak the
// node's stream protocols themselves.
func (n *Node) Libp2p() host.Host { return n.host.Libp2p() }

// Records is the node's durable store of idempotency records.
func (n *Node) Records() *Records { return &Records{store: n.store, now: n.now, ttl: IdempotencyTTL} }

// IdempotencyTTL is how long an idempotency record is kept: a client
// retries a request within minutes, and a key older than this is
// forgotten (its reuse makes a new request) so the records stay bounded.
const IdempotencyTTL = 24 * time.Hour

// Records keeps small durable records (the HTTP API's idempotency keys) in
// the node's store, so they survive a restart, each stamped with the time
// it was written: a record older than the TTL is gone for Get, and Prune
// deletes it. These are local (each node keeps its own), so the node's
// clock, not the ledger's, dates them.
type Records struct {
	store *chunk.Store
	now   func() time.Time
	ttl   time.Duration
}

// recordStamp opens a stamped record, followed by the 8-byte big-endian
// Unix nanoseconds it was written at. Records written before stamps (JSON,
// opening with '{') have none: they are dated by the first Prune.
const recordStamp = "dds-rec1\x00"

func stampRecord(at time.Time, val []byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte(recordStamp), uint64(at.UnixNano()))
	return append(b, val...)
}

// unstampRecord returns a record's time and value; ok false for a record
// without a stamp.
func unstampRecord(b []byte) (at time.Time, val []byte, ok bool) {
	if len(b) < len(recordStamp)+8 || string(b[:len(recordStamp)]) != recordStamp {
		return time.Time{}, b, false
	}
	ns := binary.BigEndian.Uint64(b[len(recordStamp):])
	return time.Unix(0, int64(ns)).UTC(), b[len(recordStamp)+8:], true
}

// expired reports whether a record written at at is past the TTL.
func (r *Records) expired(at time.Time) bool { return r.now().Sub(at) >= r.ttl }

// Get returns the record under key, and whether there is one (not past
// the TTL).
func (r *Records) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.store.GetMeta(ctx, recordsKey+key)
	if errors.Is(err, chunk.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read record: %w", err)
	}
	at, val, stamped := unstampRecord(b)
	if stamped && r.expired(at) {
		return nil, false, nil
	}
	return val, true, nil
}

// Put stores val under key, stamped now.
func (r *Records) Put(ctx context.Context, key string, val []byte) error {
	if err := r.store.PutMeta(ctx, recordsKey+key, stampRecord(r.now(), val)); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

// Prune deletes the records past the TTL and stamps those written before
// stamps (so they go a TTL later), and returns how many it deleted.
func (r *Records) Prune(ctx context.Context) (int, error) {
	keys, err := r.store.MetaKeys(ctx, recordsKey)
	if err != nil {
		return 0, fmt.Errorf("prune records: %w", err)
	}
	deleted := 0
	for _, k := range keys {
		b, err := r.store.GetMeta(ctx, k)
		if errors.Is(err, chunk.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return deleted, fmt.Errorf("prune records: %w", err)
		}
		at, val, stamped := unstampRecord(b)
		switch {
		case !stamped:
			err = r.store.PutMeta(ctx, k, stampRecord(r.now(), val))
		case r.expired(at):
			err = r.store.DeleteMeta(ctx, k)
			deleted++
		}
		if err != nil {
			return deleted, fmt.Errorf("prune records: %w", err)
		}
	}
	return deleted, nil
}

// recordsPruneInterval is how often the node prunes its idempotency
// records: a record lives at most this much past the TTL on disk (Get
// ignores it already).
const recordsPruneInterval = time.Hour

// pruneRecords is the loop's call of Records.Prune.
func (n *Node) pruneRecords(ctx context.Context) {
	if k, err := n.Records().Prune(ctx); err != nil {
		if ctx.Err() == nil {
			n.log.Warn("prune idempotency records", "err", err)
		}
	} else if k > 0 {
		n.log.Debug("pruned idempotency records", "deleted", k)
	}
}

type metrics struct {
	uploads          prometheus.Counter
	uploadBytes      prometheus.Counter
	readBytes        prometheus.Counter
	payments         *prometheus.CounterVec
	attested         prometheus.Counter
	attestHedges     prometheus.Counter
	quoteStages      *prometheus.HistogramVec
	audits           *prometheus.CounterVec
	chunkRepairs     prometheus.Counter
	chunkRepairFails prometheus.Counter
	quotesRefused    *prometheus.CounterVec
	collectors       []prometheus.Collector
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		uploads:     prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_uploads_total", Help: "Uploads staged and quoted."}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_upload_bytes_total", Help: "Bytes of uploads staged and quoted."}),
		readBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_read_bytes_total", Help: "File bytes read for downloads."}),
		payments:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dds_payments_total", Help: "Payments recorded, by status."}, []string{"status"}),
		attested:    prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_quotes_attested_total", Help: "Other nodes' quotes this node attested."}),
		attestHedges: prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_attest_hedges_total",
			Help: "Attesters asked beyond the three a quote needs because one was slow to answer."}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dds_audits_total",
			Help: "Audits this node made of holders (challenges, and the chunk it fetched for a file it does not hold), by result: pass, fail, unreachable, unchecked (its own copy was bad)."}, []string{"result"}),
		chunkRepairs: prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_chunk_repairs_total", Help: "Corrupt chunks of this store replaced by a good copy from another holder."}),
		chunkRepairFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_chunk_repair_failures_total",
			Help: "Repairs of a corrupt chunk of this store that found no good copy at another holder; the next read or audit of the chunk queues it again."}),
		quotesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dds_quotes_refused_total",
			Help: "Uploads to this node that got no quote, by reason: invalid, too_large, no_room, unavailable (no billing quorum or attesters), canceled, other. dds_uploads_total counts the quotes issued."}, []string{"reason"}),
		quoteStages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dds_upload_stage_seconds", Help: "Time an upload spends in each stage: ingest (stage the bytes), pin (make them durable, while the quote is attested), attest (gather signatures), commit (the ledger).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"stage"}),
	}
	// Every label value reported from the start, at 0: a series that
	// appears only with its first event breaks rate() and the dashboards.
	for _, r := range refusedReasons {
		m.quotesRefused.WithLabelValues(r)
	}
	for _, r := range []string{"pass", "fail", "unreachable", "unchecked"} {
		m.audits.WithLabelValues(r)
	}
	for _, st := range []string{billing.PaymentSuccess, billing.PaymentError} {
		m.payments.WithLabelValues(st)
	}
	for _, st := range []string{"ingest", "pin", "attest", "commit"} {
		m.quoteStages.WithLabelValues(st)
	}
	m.collectors = []prometheus.Collector{
		m.uploads, m.uploadBytes, m.readBytes, m.payments, m.attested, m.attestHedges, m.quoteStages, m.audits, m.chunkRepairs, m.chunkRepairFails,
		m.quotesRefused, scrapeCollector{n},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_store_bytes", Help: "Bytes of distinct chunks in the store."},
			func() float64 { return float64(n.store.Usage().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_store_chunks", Help: "Distinct chunks in the store."},
			func() float64 { return float64(n.store.Usage().Chunks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_ledger_applied_index", Help: "Last ledger log index applied on this node."},
			func() float64 { return float64(n.ledger.Index()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_ledger_is_leader", Help: "1 when this node leads the ledger."},
			func() float64 {
				if n.raft.IsLeader() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_files_without_reachable_copy",
			Help: "Paid files none of whose copies is on a live node (its holders, or its issuer before a holder confirmed one): unreadable unless one comes back."},
			func() float64 { return float64(n.copies.count.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dds_capacity_free_bytes", Help: "Capacity this node has left."},
			func() float64 { return float64(n.free()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dds_fetch_failures_total", Help: "Chunk requests to other holders that failed (error, timeout, missing or wrong bytes): the holder was skipped."},
			func() float64 {
				if n.fetch == nil {
					return 0
				}
				var sum int
				for _, k := range n.fetch.Failures() {
					sum += k
				}
				return float64(sum)
			}),
	}
	return m
}

// Collectors are the node's Prometheus metrics, to register next to the
// HTTP API's.
func (n *Node) Collectors() []prometheus.Collector { return n.metrics.collectors }
