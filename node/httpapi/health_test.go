package httpapi

import (
	"testing"

	"github.com/ddsnet/dds/api"
)

// TestHealthAndReadiness: /healthz answers 200 whatever the node's state;
// /readyz answers 200 only when the node can take writes, else 503 with
// the reason (both checked against the OpenAPI document by serve).
func TestHealthAndReadiness(t *testing.T) {
	s, svc := newTestServer(t)
	set := func(up bool, behind uint64, full bool) {
		svc.mu.Lock()
		defer svc.mu.Unlock()
		svc.up, svc.behind, svc.diskFull = up, behind, full
	}
	for _, c := range []struct {
		name   string
		up     bool
		behind uint64
		full   bool
		ready  bool
		reason string
	}{
		{"up", true, 0, false, true, ""},
		{"a little behind", true, readyMaxBehind, false, true, ""},
		{"no quorum", false, 0, false, false, "no billing quorum"},
		{"catching up", true, readyMaxBehind + 1, false, false, "the ledger is catching up: 513 committed entries not applied yet"},
		{"disk full", true, 0, true, false, "the node's disk has no room for uploads"},
	} {
		t.Run(c.name, func(t *testing.T) {
			set(c.up, c.behind, c.full)
			rec := serve(t, s, request("GET", "/healthz", "", nil))
			if rec.Code != 200 || decode[api.Health](t, rec).Status != "ok" {
				t.Errorf("healthz: %d %s", rec.Code, rec.Body)
			}
			rec = serve(t, s, request("GET", "/readyz", "", nil))
			got := decode[api.Readiness](t, rec)
			if c.ready {
				if rec.Code != 200 || got.Status != "ready" || got.Reason != "" || got.Behind != c.behind {
					t.Errorf("readyz: %d %s, want 200 ready", rec.Code, rec.Body)
				}
				return
			}
			if rec.Code != 503 || got.Status != "unready" || got.Reason != c.reason || rec.Header().Get("Retry-After") == "" {
				t.Errorf("readyz: %d %s, want 503 unready %q", rec.Code, rec.Body, c.reason)
			}
		})
	}
}

// TestReadyOnNode: a started --dev node is ready, nothing behind.
func TestReadyOnNode(t *testing.T) {
	s, _ := newNodeServer(t)
	rec := serve(t, s, request("GET", "/readyz", "", nil))
	if got := decode[api.Readiness](t, rec); rec.Code != 200 || got.Status != "ready" || got.Behind != 0 {
		t.Errorf("readyz of a started node: %d %s", rec.Code, rec.Body)
	}
}
