package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

func (f *fixture) sweep() Result {
	f.t.Helper()
	return f.must(Command{Expire: &Expire{}})
}

func TestLapsedQuoteRetention(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	q := f.upload("a", 10, dayS)
	f.now = q.ExpiresAt
	if res := f.sweep(); !slices.Equal(res.Dropped, []string{"a"}) {
		t.Fatalf("dropped %v, want [a]", res.Dropped)
	}
	// Within the window: the file is there, paying it is quoteExpired.
	f.now = q.ExpiresAt.Add(24*time.Hour - time.Second)
	f.sweep()
	if got := f.file("a"); got.State != StateExpired {
		t.Fatalf("state %s", got.State)
	}
	f.refused(payCmd("a", "p1", PaymentSuccess, q.Price), ErrQuoteExpired)
	if f.s.Due(f.now) {
		t.Fatal("due before the window ends")
	}
	// After it: forgotten, not found.
	f.advance(time.Second)
	if !f.s.Due(f.now) {
		t.Fatal("not due when the window ends")
	}
	if res := f.sweep(); len(res.Dropped)+len(res.Expired) > 0 { // forgetting is not reported
		t.Fatalf("forgetting reported %+v", res)
	}
	if _, ok := f.s.File("a"); ok {
		t.Fatal("file still known after its window")
	}
	f.refused(payCmd("a", "p1", PaymentSuccess, q.Price), ErrNotFound)
	if n, _ := f.s.Counts(); n != 0 {
		t.Fatalf("%d files kept", n)
	}
}

func TestTombstoneRetention(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.paid("a", 3*GiB, 10*dayS)
	f.must(f.holdCmd("a", 1, 2, 3))
	f.must(Command{Update: &Update{FileID: "a", Additional: map[string]json.RawMessage{"owner": json.RawMessage(`"alice"`)}}})
	f.upload("c", 10, dayS)
	f.must(payCmd("c", "pc", PaymentError, 0))
	cancelledAt := f.now
	live := f.file("a")
	from, to := t0.Add(-24*time.Hour), t0.Add(60*24*time.Hour)
	report := f.s.LocalReport(peerName(1), from, to)
	if report.Amount == 0 {
		t.Fatal("nothing due")
	}

	// The cancelled file is a tombstone at once.
	if c := f.file("c"); c.State != StateCancelled || c.AttestedBy != nil {
		t.Fatalf("cancelled file %+v", c)
	}
	f.now = live.ExpiresAt
	if res := f.sweep(); !slices.Equal(res.Expired, []string{"a"}) {
		t.Fatalf("expired %v", res.Expired)
	}
	a := f.file("a")
	if a.State != StateExpired || a.Additional != nil || a.Holders != nil || a.AttestedBy != nil ||
		a.Name != live.Name || a.CID != live.CID || a.Size != live.Size || !a.ExpiresAt.Equal(live.ExpiresAt) || a.Paid != live.Paid {
		t.Fatalf("tombstone %+v", a)
	}
	f.refused(Command{Update: &Update{FileID: "a", Additional: map[string]json.RawMessage{"k": json.RawMessage(`1`)}}}, ErrGone)
	if got := f.s.LocalReport(peerName(1), from, to); got != report {
		t.Fatalf("report after expiry %+v, before %+v", got, report)
	}

	// The cancelled file's window ends 30 days after its cancellation.
	f.now = cancelledAt.Add(30*24*time.Hour - time.Second)
	f.sweep()
	f.file("a")
	f.sweep()
	f.file("c")
	f.advance(time.Second)
	f.sweep()
	if _, ok := f.s.File("c"); ok {
		t.Fatal("cancelled file kept past its window")
	}
	// The expired file's, 30 days after its lease ended.
	f.now = live.ExpiresAt.Add(30*24*time.Hour - time.Second)
	f.sweep()
	f.file("a")
	f.refused(Command{Update: &Update{FileID: "a"}}, ErrGone)
	f.advance(time.Second)
	f.sweep()
	if _, ok := f.s.File("a"); ok {
		t.Fatal("tombstone kept past its window")
	}
	f.refused(Command{Update: &Update{FileID: "a"}}, ErrNotFound)
	if end, ok := f.s.ForgottenLease("a"); !ok || !end.Equal(live.ExpiresAt) {
		t.Fatalf("forgotten lease end %s %v, want %s", end, ok, live.ExpiresAt)
	}
	if _, ok := f.s.ForgottenLease("c"); ok {
		t.Fatal("a cancelled file had a lease")
	}
	// Reports still see the lease, until ReportWindow after its end.
	if got := f.s.LocalReport(peerName(1), from, to); got != report {
		t.Fatalf("report after the tombstone %+v, before %+v", got, report)
	}
	if _, acc := f.s.Counts(); acc != 1 {
		t.Fatalf("%d accruals", acc)
	}
	f.now = live.ExpiresAt.Add(ReportWindow - time.Second)
	if f.s.Due(f.now) {
		t.Fatal("due before the report window ends")
	}
	f.advance(time.Second)
	f.sweep()
	if files, acc := f.s.Counts(); files+acc != 0 {
		t.Fatalf("%d files, %d accruals kept", files, acc)
	}
	if len(f.s.payments) != 2 {
		t.Fatalf("%d payments kept, want 2", len(f.s.payments))
	}
}

func TestRetentionSettings(t *testing.T) {
	// An Init that names no windows (as before retention) gets the defaults.
	set := DefaultSettings()
	set.LapsedQuoteRetention, set.TombstoneRetention = 0, 0
	f := newFixture(t, set)
	got, _ := f.s.Settings()
	if got.LapsedQuoteRetention != DefaultLapsedQuoteRetention || got.TombstoneRetention != DefaultTombstoneRetention {
		t.Fatalf("settings %+v", got)
	}
	// A network's own windows.
	set = DefaultSettings()
	set.LapsedQuoteRetention, set.TombstoneRetention = 60, 120
	f = newFixture(t, set)
	q := f.upload("a", 10, dayS)
	f.now = q.ExpiresAt.Add(59 * time.Second)
	f.sweep()
	f.file("a")
	f.advance(time.Second)
	f.sweep()
	if _, ok := f.s.File("a"); ok {
		t.Fatal("lapsed quote kept past 60 s")
	}
	for _, bad := range []Settings{
		func() Settings { s := DefaultSettings(); s.LapsedQuoteRetention = -1; return s }(),
		func() Settings { s := DefaultSettings(); s.TombstoneRetention = MaxRetention + 1; return s }(),
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestReadSnapshotVersion1 restores a snapshot main wrote (scenarioState,
// testdata/snapshot-v1.json) and checks that it becomes what this version
// makes of the same commands: the same state after the next sweep, and
// the same reports main gave.
func TestReadSnapshotVersion1(t *testing.T) {
	b, err := os.ReadFile("testdata/snapshot-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	old, err := ReadSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	set, _ := old.Settings()
	if set.LapsedQuoteRetention != DefaultLapsedQuoteRetention || set.TombstoneRetention != DefaultTombstoneRetention {
		t.Fatalf("settings %+v", set)
	}
	if c, ok := old.File("cancelled"); !ok || c.State != StateCancelled {
		t.Fatalf("cancelled: %+v", c)
	}
	var reports map[string]LocalReport
	rb, err := os.ReadFile("testdata/snapshot-v1-reports.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &reports); err != nil {
		t.Fatal(err)
	}
	for peer, want := range reports {
		if got := old.LocalReport(peer, t0.Add(-24*time.Hour), t0.Add(60*24*time.Hour)); got != want {
			t.Errorf("report of %s: %+v, main said %+v", peer, got, want)
		}
	}

	f := scenarioState(t)
	// The snapshot's lapsed quotes are past their window: this version
	// forgot them at the scenario's last sweep, the restored state does at
	// its next one.
	if _, ok := old.File("lapsed"); !ok {
		t.Fatal("lapsed quote missing from the old snapshot")
	}
	if _, ok := f.s.File("lapsed"); ok {
		t.Fatal("lapsed quote kept past its window")
	}
	c := signed(Command{Time: f.now, Expire: &Expire{}})
	if res := old.Apply(c); res.Err != nil {
		t.Fatal(res.Err)
	}
	f.must(c)
	if old.Hash() != f.s.Hash() {
		var a, b bytes.Buffer
		_ = old.WriteSnapshot(&a)
		_ = f.s.WriteSnapshot(&b)
		t.Fatalf("restored version 1 state differs:\n%s\n%s", a.String(), b.String())
	}
}

// TestSweepMatchesScan checks the index-driven sweep against the scan it
// replaced: at every step of a scenario with many files in every state,
// the files a scan finds due are the ones the sweep changes, in the same
// (creation) order.
func TestSweepMatchesScan(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	for i := range 60 {
		id := fmt.Sprintf("f%02d", i)
		q := f.upload(id, 10, int64(1+i%7)*3600)
		switch i % 5 {
		case 1, 2:
			f.must(payCmd(id, "p"+id, PaymentSuccess, q.Price))
		case 3:
			f.must(payCmd(id, "p"+id, PaymentSuccess, q.Price))
			f.must(f.putQuote(f.extQuote(id, int64(2+i%7)*3600)))
		case 4:
			f.must(payCmd(id, "p"+id, PaymentError, 0))
		}
		f.advance(time.Duration(i%4) * 7 * time.Minute)
	}
	for step := 0; step < 80; step++ {
		f.advance(37 * time.Minute)
		var wantDropped, wantExpired []string
		for _, rec := range f.s.files {
			if rec == nil {
				continue
			}
			fl := &rec.File
			switch fl.State {
			case StateQuoted:
				if !f.now.Before(fl.Quote.ExpiresAt) {
					wantDropped = append(wantDropped, fl.ID)
				}
			case StateStoring, StateStored, StateExtensionQuoted:
				if !f.now.Before(fl.ExpiresAt) {
					wantExpired = append(wantExpired, fl.ID)
				}
			}
		}
		res := f.sweep()
		if !slices.Equal(res.Dropped, wantDropped) || !slices.Equal(res.Expired, wantExpired) {
			t.Fatalf("step %d: sweep dropped %v expired %v; a scan finds %v, %v", step, res.Dropped, res.Expired, wantDropped, wantExpired)
		}
		checkIndex(t, f.s)
		if f.s.Due(f.now) {
			t.Fatalf("step %d: still due after a sweep", step)
		}
	}
	f.advance(31 * 24 * time.Hour)
	f.sweep()
	if n, _ := f.s.Counts(); n != 0 {
		t.Fatalf("%d files left after every window", n)
	}
}

func TestPageAcrossPruning(t *testing.T) {
	set := DefaultSettings()
	set.LapsedQuoteRetention = 60
	f := newFixture(t, set)
	var ids []string
	for i := range 200 {
		id := fmt.Sprintf("f%03d", i)
		ids = append(ids, id)
		q := f.upload(id, 10, dayS)
		if i%3 == 0 { // paid: kept; the others lapse and are forgotten
			f.must(payCmd(id, "p"+id, PaymentSuccess, q.Price))
		}
	}
	page, ok := f.s.Page("", 11)
	if !ok || len(page) != 11 {
		t.Fatalf("first page: %d files", len(page))
	}
	cursor := FileCursor(page[10]) // f010: unpaid, soon forgotten
	f.advance(time.Hour)
	f.sweep()
	if _, ok := f.s.File("f010"); ok {
		t.Fatal("f010 kept")
	}
	// New files never shift a page; the forgotten file's cursor still places it.
	f.upload("new", 10, dayS)
	next, ok := f.s.Page(cursor, 3)
	if !ok || len(next) != 3 || next[0].ID != "f012" || next[1].ID != "f015" || next[2].ID != "f018" {
		t.Fatalf("page after a forgotten file: %v %v", ok, fileIDs(next))
	}
	// A bare id of a forgotten file is unknown; of a known one, it works.
	if _, ok := f.s.Page("f010", 3); ok {
		t.Fatal("bare cursor of a forgotten file accepted")
	}
	if p, ok := f.s.Page("f012", 1); !ok || p[0].ID != "f015" {
		t.Fatalf("bare cursor: %v", fileIDs(p))
	}
	for _, bad := range []string{"f012~x", "f012~-1", "f012~01"} {
		if _, ok := f.s.Page(bad, 1); ok {
			t.Errorf("cursor %q accepted", bad)
		}
	}
	// Walking every page gives every known file once, in creation order,
	// before and after the positions are compacted.
	var want []string
	for _, id := range append(ids, "new") {
		if _, ok := f.s.File(id); ok {
			want = append(want, id)
		}
	}
	if f.s.holes != 0 {
		t.Fatalf("%d holes left after the sweep (compacted past half)", f.s.holes)
	}
	var got []string
	for after := ""; ; {
		p, ok := f.s.Page(after, 7)
		if !ok {
			t.Fatalf("cursor %q refused", after)
		}
		if len(p) == 0 {
			break
		}
		got = append(got, fileIDs(p)...)
		after = FileCursor(p[len(p)-1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}
}

func fileIDs(fs []File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// TestRetentionReplicasAgree applies the same commands, with pruning
// along the way, to a state, to one restored from a snapshot midway, and
// to a fresh replay: their snapshots are the same bytes.
func TestRetentionReplicasAgree(t *testing.T) {
	set := DefaultSettings()
	set.LapsedQuoteRetention, set.TombstoneRetention = 600, 3600
	f := newFixture(t, set)
	var restored *State
	restoredAt := 0 // commands applied before the snapshot
	for i := range 120 {
		id := fmt.Sprintf("f%03d", i)
		q := f.upload(id, 10, int64(1+i%5)*1800)
		switch i % 4 {
		case 0:
			f.must(payCmd(id, "p"+id, PaymentSuccess, q.Price))
			f.must(f.holdCmd(id, 1+i%3))
		case 1:
			f.must(payCmd(id, "p"+id, PaymentError, 0))
		}
		f.advance(5 * time.Minute)
		if i%10 == 0 {
			f.sweep()
		}
		if i == 60 {
			restored, restoredAt = restoredState(t, f.s), len(f.cmds)
		}
	}
	f.advance(48 * time.Hour)
	f.sweep()
	replay := NewState()
	for i, c := range f.cmds {
		replay.Apply(c)
		if i >= restoredAt {
			restored.Apply(c)
		}
	}
	snap := func(s *State) []byte {
		var b bytes.Buffer
		if err := s.WriteSnapshot(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	want := snap(f.s)
	if !bytes.Equal(snap(replay), want) || !bytes.Equal(snap(restored), want) {
		t.Fatal("replicas differ")
	}
	if files, acc := f.s.Counts(); files != 0 || acc != 30 {
		t.Fatalf("%d files, %d accruals after every window", files, acc)
	}
}
