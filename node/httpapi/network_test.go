package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// Network is a network of three: this node, a member heard from and gone
// quiet, and one never heard from.
func (f *fakeService) Network(context.Context) node.Network {
	t0 := f.now
	return node.Network{
		PeerID: "p1", Leader: "p1", LedgerIndex: 42,
		Members: []node.NetworkMember{
			{PeerID: "p1", Role: "voter", HTTP: "127.0.0.1:7070", Self: true, Reachable: true, Known: true,
				Capacity: 1 << 30, Free: 1 << 29, Stored: 1 << 29, LedgerIndex: 42, Version: "v-test", Uptime: 60},
			{PeerID: "p2", Role: "nonvoter", HTTP: "127.0.0.1:7071", Known: true, LastSeen: t0.Add(-time.Minute),
				Capacity: 2 << 30, Free: 1 << 30, Stored: 1 << 30, LedgerIndex: 40, Version: "v-old", Uptime: 30, Latency: 1500 * time.Microsecond},
			{PeerID: "p3", Role: "registered"},
		},
		Self: node.NodeStats{Capacity: 1 << 30, Free: 1 << 29, Stored: 1 << 29, Version: "v-node", Uptime: 60,
			Quotes: 7, QuotesPerSec: 0.5, HoldersReplaced: 1, AuditsFailed: 2},
		Events: []node.Event{
			{Time: t0.Add(-2 * time.Minute), Kind: node.EventMemberJoined, Message: "node joined the ledger", Peer: "p3"},
			{Time: t0.Add(-time.Minute), Kind: node.EventHolderReplaced, Message: "holder gone: repairing", Peer: "p2", File: "f1"},
		},
	}
}

func TestNetworkDocument(t *testing.T) {
	s, _ := newTestServer(t)
	// An upload first, so that the traffic counters have something to show.
	up := jsonUpload("a.txt", "aGVsbG8=", "")
	serve(t, s, request(http.MethodPost, "/files", api.MediaType, strings.NewReader(up)))

	rec := serve(t, s, request(http.MethodGet, "/network", "", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /network -> %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != api.MediaType {
		t.Errorf("Content-Type %q", ct)
	}
	doc := decode[api.Document[api.Network]](t, rec)
	if doc.Data.Type != api.TypeNetwork || doc.Data.ID != "p1" || doc.Data.Links == nil || doc.Data.Links.Self != "/network" {
		t.Errorf("resource %s/%s links %+v", doc.Data.Type, doc.Data.ID, doc.Data.Links)
	}
	a := doc.Data.Attributes
	if a.Leader != "p1" || a.LedgerIndex != 42 || len(a.Members) != 3 {
		t.Fatalf("attributes %+v", a)
	}
	self, gone, unknown := a.Members[0], a.Members[1], a.Members[2]
	if !self.Self || !self.Reachable || self.LastSeen != nil || self.Capacity == nil || *self.Capacity != 1<<30 {
		t.Errorf("self %+v", self)
	}
	if gone.Reachable || gone.LastSeen == nil || gone.Free == nil || *gone.Free != 1<<30 || gone.Version != "v-old" ||
		gone.LatencyMS == nil || *gone.LatencyMS != 1.5 || gone.Role != "nonvoter" {
		t.Errorf("gone member %+v", gone)
	}
	// A member never heard from has no figures: absent, not zero (zero
	// free space would read as a full disk).
	if unknown.Reachable || unknown.Capacity != nil || unknown.Free != nil || unknown.LastSeen != nil || unknown.Version != "" {
		t.Errorf("unknown member %+v", unknown)
	}
	if a.Node.Version != "v-test" { // the server's configured version, as in /info
		t.Errorf("node version %q", a.Node.Version)
	}
	if a.Node.Quotes != 7 || a.Node.QuotesPerSecond != 0.5 || a.Node.HoldersReplaced != 1 || a.Node.AuditsFailed != 2 {
		t.Errorf("node stats %+v", a.Node)
	}
	if a.Node.HTTPBytesIn < int64(len(up)) || a.Node.HTTPBytesOut == 0 {
		t.Errorf("traffic in %d (upload of %d bytes), out %d", a.Node.HTTPBytesIn, len(up), a.Node.HTTPBytesOut)
	}
	if len(a.Events) != 2 || a.Events[0].Kind != node.EventHolderReplaced || a.Events[0].Peer != "p2" || a.Events[1].Kind != node.EventMemberJoined {
		t.Errorf("events (newest first) %+v", a.Events)
	}
	// A file's id is the capability to read it: the public sees none.
	if len(a.Events) > 0 && a.Events[0].File != "" {
		t.Errorf("file id %q shown without the billing token", a.Events[0].File)
	}
	rec = serve(t, s, request(http.MethodGet, "/network", "", nil, "Authorization", "Bearer "+testToken))
	if ev := decode[api.Document[api.Network]](t, rec).Data.Attributes.Events; rec.Code != http.StatusOK || len(ev) == 0 || ev[0].File != "f1" {
		t.Errorf("with the billing token: %d, events %+v", rec.Code, ev)
	}

	// Public, like /info: a wrong token does not matter, and only GET is served.
	rec = serve(t, s, request(http.MethodGet, "/network", "", nil, "Authorization", "Bearer nonsense"))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /network with a stray token -> %d", rec.Code)
	}
	rec = serve(t, s, request(http.MethodPost, "/network", api.MediaType, strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /network -> %d", rec.Code)
	}
}
