package billing

import (
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Retention keeps the ledger bounded (spec/api.md, "Retention"). Every
// file record has one next deadline, and the State keeps the records in a
// min-heap by (deadline, CreatedAt), so a sweep (the Expire command) looks
// only at what is due, never at every record:
//
//	quoted                      the quote's end: it lapses
//	storing, stored             the lease's end: it expires
//	extension_quoted            the earlier of the lease's and the quote's end
//	expired, never paid         Ended + LapsedQuoteRetention: it is forgotten
//	expired (a lease), cancelled, deleted
//	                            Ended + TombstoneRetention: it is forgotten
//
// A file that expires, is cancelled or deleted becomes a tombstone at once: the
// fields a gone file answers with (id, state, name, cid, size, times, price,
// paid) and nothing else. What /payments/local needs of an ended lease (its
// paid segments and holdings) moves to an accrual, kept ReportWindow after
// the lease's end; accruals end in the order they were made, so they are
// pruned from the front of a slice.
//
// Everything here runs inside Apply, at the ledger's time (the latest time
// a command carried), never at a replica's clock: replicas that apply the
// same commands prune the same records at the same command.

// accrual is what LocalReport needs of a lease that ended.
type accrual struct {
	FileID   string    `json:"file_id"`
	Size     int64     `json:"size"`
	End      time.Time `json:"end"` // the lease's end
	Segments []segment `json:"segments"`
	Holdings []holding `json:"holdings"`
}

// terms is the part of a lease a report reads: from a live file record or
// from an accrual.
type terms struct {
	size     int64
	end      time.Time
	segments []segment
	holdings []holding
}

func (rec *fileRecord) terms() terms {
	return terms{size: rec.File.Size, end: rec.File.ExpiresAt, segments: rec.Segments, holdings: rec.Holdings}
}

func (a *accrual) terms() terms {
	return terms{size: a.Size, end: a.End, segments: a.Segments, holdings: a.Holdings}
}

// deadline returns the time at which rec must next be looked at by a sweep.
func (rec *fileRecord) deadline(set Settings) time.Time {
	f := &rec.File
	switch f.State {
	case StateQuoted:
		return f.Quote.ExpiresAt
	case StateExtensionQuoted:
		if f.Quote.ExpiresAt.Before(f.ExpiresAt) {
			return f.Quote.ExpiresAt
		}
		return f.ExpiresAt
	case StateExpired:
		if !f.Leased() {
			return rec.Ended.Add(time.Duration(set.LapsedQuoteRetention) * time.Second)
		}
		return rec.Ended.Add(time.Duration(set.TombstoneRetention) * time.Second)
	case StateCancelled, StateDeleted:
		return rec.Ended.Add(time.Duration(set.TombstoneRetention) * time.Second)
	}
	return f.ExpiresAt // storing, stored
}

// tombstone drops what a file that ended no longer needs: what it was
// about (additional attributes, up to 16 KiB), who held and attested it,
// and its accounting (moved to an accrual by retire when a report needs
// it). The rest is what a gone file answers with, in /info and listings:
// state, name, cid, size, the lease's times, its price and what was paid.
func (rec *fileRecord) tombstone() {
	f := &rec.File
	f.Additional = nil
	f.Holders = nil
	f.AttestedBy = nil
	f.Quote = nil
	rec.LastPaid = nil
	rec.Segments = nil
	rec.Holdings = nil
}

// retire turns the record of a lease that just expired into a tombstone,
// keeping what reports need in an accrual when any holder held it.
func (s *State) retire(rec *fileRecord) {
	f := &rec.File
	rec.Ended = f.ExpiresAt
	if len(rec.Segments) > 0 && slices.ContainsFunc(rec.Holdings, func(h holding) bool { return h.End.After(h.Start) }) {
		s.addAccrual(&accrual{FileID: f.ID, Size: f.Size, End: f.ExpiresAt, Segments: rec.Segments, Holdings: rec.Holdings})
	}
	rec.tombstone()
}

// accrualLess orders accruals by (End, FileID).
func accrualCmp(a, b *accrual) int {
	if c := a.End.Compare(b.End); c != 0 {
		return c
	}
	return strings.Compare(a.FileID, b.FileID)
}

// addAccrual inserts a into the accruals, kept in (End, FileID) order. The
// sweep expires leases in that order, so a is nearly always appended.
func (s *State) addAccrual(a *accrual) {
	n := len(s.accruals)
	if n == 0 || accrualCmp(s.accruals[n-1], a) <= 0 {
		s.accruals = append(s.accruals, a)
		return
	}
	i, _ := slices.BinarySearchFunc(s.accruals, a, accrualCmp)
	for i < n && accrualCmp(s.accruals[i], a) == 0 {
		i++ // after equal ones: the order they came in
	}
	s.accruals = slices.Insert(s.accruals, i, a)
}

// pruneAccruals drops the accruals no report can ask for any more.
func (s *State) pruneAccruals(now time.Time) {
	k := 0
	for k < len(s.accruals) && !now.Before(s.accruals[k].End.Add(ReportWindow)) {
		s.accruals[k] = nil // let the collector have it before the array is reallocated
		k++
	}
	s.accruals = s.accruals[k:]
	// The array keeps the dropped front until it is copied: copy what is
	// left once more was dropped than is left (O(1) amortised).
	s.accDropped += k
	if s.accDropped > len(s.accruals) {
		s.accruals = slices.Clone(s.accruals)
		s.accDropped = 0
	}
}

// ForgottenLease returns the end of the lease of file id once the ledger
// forgot the file, from the accrual reports keep of it (ReportWindow after
// the lease's end); false when there is none. A holder keeps its copy of a
// lease the ledger ended before the lease's end by the holder's own clock
// (a ledger time run ahead must not erase data): this is how it still
// knows that end after the tombstone is gone. It scans the accruals from
// the newest: a rare question (a lease pin of an unknown file).
func (s *State) ForgottenLease(id string) (time.Time, bool) {
	if _, known := s.byID[id]; known {
		return time.Time{}, false
	}
	for i := len(s.accruals) - 1; i >= 0; i-- {
		if a := s.accruals[i]; a.FileID == id {
			return a.End, true
		}
	}
	return time.Time{}, false
}

// deadlines is the min-heap of the file records by (due, CreatedAt);
// CreatedAt is unique, so the order is total and the same on every replica.
type deadlines []*fileRecord

func (h deadlines) Len() int { return len(h) }
func (h deadlines) Less(i, j int) bool {
	if c := h[i].due.Compare(h[j].due); c != 0 {
		return c < 0
	}
	return h[i].File.CreatedAt.Before(h[j].File.CreatedAt)
}
func (h deadlines) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot, h[j].slot = i, j
}
func (h *deadlines) Push(x any) {
	rec := x.(*fileRecord)
	rec.slot = len(*h)
	*h = append(*h, rec)
}
func (h *deadlines) Pop() any {
	old := *h
	n := len(old) - 1
	rec := old[n]
	old[n] = nil
	rec.slot = -1
	*h = old[:n]
	return rec
}

// schedule (re)places rec in the deadline index after a change that may
// have moved its next deadline.
func (s *State) schedule(rec *fileRecord) {
	rec.due = rec.deadline(s.settings)
	if rec.slot < 0 {
		heap.Push(&s.due, rec)
		return
	}
	heap.Fix(&s.due, rec.slot)
}

// add appends a new file record in creation order and schedules it.
func (s *State) add(rec *fileRecord) {
	rec.pos = len(s.files)
	rec.slot = -1
	s.files = append(s.files, rec)
	s.created = append(s.created, rec.File.CreatedAt.UnixNano())
	s.byID[rec.File.ID] = rec
	s.schedule(rec)
}

// forget removes a file whose retention ended: its id is unknown from now
// on. Its slot in the creation order stays empty (its creation time kept,
// for cursors that point at it) until compact.
func (s *State) forget(rec *fileRecord) {
	if rec.slot >= 0 {
		heap.Remove(&s.due, rec.slot)
	}
	s.files[rec.pos] = nil
	s.holes++
	delete(s.byID, rec.File.ID)
	s.forgetOwned(rec)
}

// minCompact is the fewest empty slots worth compacting.
const minCompact = 64

// compact closes the empty slots of the creation order once they are more
// than half of it: each removal costs O(1) amortised. It builds the id map
// and the heap's array again too, sized for what is left: a Go map never
// shrinks, and a ledger that had a burst of quotes would keep its peak's
// buckets for good.
func (s *State) compact() {
	if s.holes < minCompact || 2*s.holes < len(s.files) {
		return
	}
	live := len(s.files) - s.holes
	files := make([]*fileRecord, 0, live)
	created := make([]int64, 0, live)
	byID := make(map[string]*fileRecord, live)
	for _, rec := range s.files {
		if rec != nil {
			rec.pos = len(files)
			files = append(files, rec)
			created = append(created, rec.File.CreatedAt.UnixNano())
			byID[rec.File.ID] = rec
		}
	}
	s.files, s.created, s.holes, s.byID = files, created, 0, byID
	s.due = slices.Clip(slices.Clone(s.due))
}

// step brings the record at the top of the index, due at or before now,
// to its next state: an open quote lapses, a lease expires, a tombstone is
// forgotten. It collects what the sweep reports in dropped and expired.
func (s *State) step(now time.Time, rec *fileRecord, dropped, expired *[]*fileRecord) {
	f := &rec.File
	switch f.State {
	case StateQuoted:
		rec.Ended = f.Quote.ExpiresAt
		f.Quote = nil
		f.State = StateExpired
		rec.Last = quoteLapsed
		rec.tombstone()
		*dropped = append(*dropped, rec)
	case StateStoring, StateStored, StateExtensionQuoted:
		if !now.Before(f.ExpiresAt) {
			if f.Quote != nil {
				rec.closeExtension(quoteLapsed, s.settings.Replicas)
			}
			for i := range rec.Holdings {
				if rec.Holdings[i].End.IsZero() {
					rec.Holdings[i].End = f.ExpiresAt
				}
			}
			f.State = StateExpired
			s.unmapFile(f.ID)
			s.retire(rec)
			*expired = append(*expired, rec)
		} else if f.Quote != nil && !now.Before(f.Quote.ExpiresAt) {
			rec.closeExtension(quoteLapsed, s.settings.Replicas)
		}
	case StateExpired, StateCancelled, StateDeleted:
		s.forget(rec)
		return
	}
	before := rec.due
	s.schedule(rec)
	if !before.Before(rec.due) {
		// Every step moves a record's deadline on or removes it; a record
		// that stayed due would keep the sweep here for ever.
		panic(fmt.Sprintf("file %s in state %s stays due at %s", f.ID, f.State, rec.due.Format(time.RFC3339Nano)))
	}
}

// byCreation returns the ids of recs in creation order: the order in
// which a sweep lists them.
func byCreation(recs []*fileRecord) []string {
	if len(recs) == 0 {
		return nil
	}
	slices.SortFunc(recs, func(a, b *fileRecord) int { return a.File.CreatedAt.Compare(b.File.CreatedAt) })
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.File.ID
	}
	return ids
}

// Cursors: a page of files starts after a cursor, "<id>~<CreatedAt in Unix
// nanoseconds>". The creation time places the cursor even after its file
// was forgotten (CreatedAt strictly increases, so it alone orders the
// files); a bare file id, the cursor of earlier versions, works while the
// file is known.
const cursorSep = "~"

// FileCursor returns the cursor of a page that starts after f.
func FileCursor(f File) string {
	return f.ID + cursorSep + strconv.FormatInt(f.CreatedAt.UnixNano(), 10)
}

// ParseCursor splits a cursor into its file id and creation time in Unix
// nanoseconds (hasTime false for a bare id).
func ParseCursor(c string) (id string, created int64, hasTime bool, err error) {
	id, t, found := strings.Cut(c, cursorSep)
	if !found {
		return c, 0, false, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t != strconv.FormatInt(n, 10) {
		return "", 0, false, fmt.Errorf("cursor %q: the part after %q is not a time in Unix nanoseconds", c, cursorSep)
	}
	return id, n, true, nil
}

// Page returns up to limit files (all when limit <= 0) in creation order
// (CreatedAt, which strictly increases), starting after the cursor after
// ("" starts at the first; see FileCursor). ok is false for a cursor that
// does not parse, or a bare id of a file the ledger does not know. New
// files are always appended, so they never shift a page; a forgotten
// file's cursor still places its page.
func (s *State) Page(after string, limit int) (files []File, ok bool) {
	start := 0
	if after != "" {
		id, created, hasTime, err := ParseCursor(after)
		if err != nil {
			return nil, false
		}
		rec, known := s.byID[id]
		switch {
		case known && (!hasTime || rec.File.CreatedAt.UnixNano() == created):
			start = rec.pos + 1
		case hasTime:
			start, _ = slices.BinarySearch(s.created, created+1)
		default:
			return nil, false
		}
	}
	for _, rec := range s.files[min(start, len(s.files)):] {
		if limit > 0 && len(files) == limit {
			break
		}
		if rec != nil {
			files = append(files, rec.File.clone())
		}
	}
	return files, true
}
