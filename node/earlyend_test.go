package node

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ddsnet/dds/billing"
)

// A lease the ledger ended before its end by this node's clock (a ledger
// time run ahead: a leader that stamped a command far in the future) keeps
// its copy; one that ended on time, or was cancelled, does not.
func TestLeaseEndedEarlyIsKept(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	n := &Node{clock: fixedClock{now}, log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name string
		f    billing.File
		keep bool
	}{
		{"ended a century early", billing.File{ID: "a", State: billing.StateExpired, ExpiresAt: now.Add(24 * time.Hour)}, true},
		{"ended on time", billing.File{ID: "b", State: billing.StateExpired, ExpiresAt: now.Add(-time.Second)}, false},
		{"ended within the clock skew", billing.File{ID: "c", State: billing.StateExpired, ExpiresAt: now.Add(clockSkew / 2)}, false},
		{"cancelled", billing.File{ID: "d", State: billing.StateCancelled}, false},
		{"live", billing.File{ID: "e", State: billing.StateStored, ExpiresAt: now.Add(time.Hour)}, false},
	} {
		if got := n.endedEarly(tc.f); got != tc.keep {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.keep)
		}
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }
