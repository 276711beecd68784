package httpapi

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// traffic counts the bytes of request and response bodies the API served,
// for GET /network (the Prometheus counters carry them by route too).
type traffic struct {
	in, out atomic.Int64
}

func (t *traffic) add(in, out int64) {
	t.in.Add(in)
	t.out.Add(out)
}

// handleNetwork serves GET /network: the network as this node sees it. It
// is public, as /info is, but for the file ids of its events: a file's id
// is the capability to read it (spec/api.md), so only the node's operator
// (the billing token) sees them.
func (s *Server) handleNetwork(w http.ResponseWriter, r *http.Request) {
	nw := s.svc.Network(r.Context())
	token, _ := bearer(r)
	operator := token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.BillingToken)) == 1
	body := api.Document[api.Network]{Data: api.Resource[api.Network]{
		Type: api.TypeNetwork, ID: nw.PeerID,
		Attributes: networkAttributes(nw, s.traffic.in.Load(), s.traffic.out.Load(), operator),
		Links:      &api.Links{Self: "/network"},
	}}
	if s.cfg.Version != "" {
		body.Data.Attributes.Node.Version = s.cfg.Version
	}
	s.writeJSON(w, r, http.StatusOK, api.MediaType, body)
}

func networkAttributes(nw node.Network, in, out int64, fileIDs bool) api.Network {
	a := api.Network{
		PeerID: nw.PeerID, Leader: nw.Leader, LedgerIndex: nw.LedgerIndex,
		Members: make([]api.NetworkMember, 0, len(nw.Members)),
		Events:  make([]api.Event, 0, len(nw.Events)),
		Node: api.NodeStats{
			Capacity: nw.Self.Capacity, Free: nw.Self.Free, Stored: nw.Self.Stored,
			Version: nw.Self.Version, Uptime: nw.Self.Uptime,
			HTTPBytesIn: in, HTTPBytesOut: out,
			UploadBytes: nw.Self.UploadBytes, ReadBytes: nw.Self.ReadBytes,
			Quotes: nw.Self.Quotes, QuotesPerSecond: nw.Self.QuotesPerSec, Attested: nw.Self.Attested,
			HoldersReplaced: nw.Self.HoldersReplaced, ChunkRepairs: nw.Self.ChunkRepairs, AuditsFailed: nw.Self.AuditsFailed,
		},
	}
	for _, m := range nw.Members {
		am := api.NetworkMember{PeerID: m.PeerID, Role: m.Role, HTTP: m.HTTP, Self: m.Self, Reachable: m.Reachable}
		if m.Known {
			am.Capacity, am.Free, am.Stored = ptr(m.Capacity), ptr(m.Free), ptr(m.Stored)
			am.LedgerIndex, am.Version, am.Uptime = ptr(m.LedgerIndex), m.Version, ptr(m.Uptime)
			if !m.LastSeen.IsZero() {
				am.LastSeen = ptr(m.LastSeen.UTC().Truncate(time.Second))
			}
			if m.Latency > 0 {
				am.LatencyMS = ptr(float64(m.Latency.Microseconds()) / 1000)
			}
		}
		a.Members = append(a.Members, am)
	}
	// Newest first: what a reader of the dashboard looks for.
	for _, e := range slices.Backward(nw.Events) {
		ev := api.Event{Time: e.Time.UTC(), Kind: e.Kind, Message: e.Message, Peer: e.Peer}
		if fileIDs {
			ev.File = e.File
		}
		a.Events = append(a.Events, ev)
	}
	return a
}

func ptr[T any](v T) *T { return &v }
