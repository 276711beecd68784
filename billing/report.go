package billing

import (
	"math"
	"math/big"
	"slices"
	"time"
)

// LocalReport is what is due to one node for a range of days.
type LocalReport struct {
	Amount int64 // nanotokens, rounded down once
	Size   int64 // bytes: the largest daily figure of data held
}

const day = 24 * time.Hour

// utcDay returns the start (00:00 UTC) of t's day, clamped to the ledger's
// range of times.
func utcDay(t time.Time) time.Time {
	t = t.UTC()
	switch {
	case t.Before(minTime):
		t = minTime
	case t.After(horizon):
		t = horizon
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// LocalReport returns what is due to node peerID for the UTC days from..to
// inclusive (each taken at 00:00 UTC of its day). Each paid quote's price is
// spread evenly over the term it paid for; each instant of it is split evenly
// among the holders holding the file then; the node's amount is its share of
// [from 00:00, to+1 day 00:00), summed exactly and rounded down once. Size is
// the largest, over the days in range, of the bytes the node held during
// that day. from after to gives a zero report.
func (s *State) LocalReport(peerID string, from, to time.Time) LocalReport {
	lo, last := utcDay(from), utcDay(to)
	if last.Before(lo) {
		return LocalReport{}
	}
	hi := last.Add(day)
	sum := newDueSum()
	var events []sizeEvent
	add := func(t terms) {
		if !slices.ContainsFunc(t.holdings, func(h holding) bool { return h.Holder == peerID }) {
			return
		}
		t.share(peerID, lo.UnixNano(), hi.UnixNano(), sum)
		events = t.sizeEvents(peerID, dayNumber(lo), dayNumber(last), events)
	}
	for _, rec := range s.files {
		if rec != nil {
			add(rec.terms())
		}
	}
	// Ended leases: a report reaches back ReportWindow at most.
	for _, a := range s.accruals {
		add(a.terms())
	}
	return LocalReport{Amount: sum.floor(), Size: maxDailySize(events)}
}

// span is a holding in Unix nanoseconds, its open end replaced by the lease end.
type span struct {
	holder     string
	start, end int64
}

func (t terms) spans() []span {
	leaseEnd := t.end
	out := make([]span, 0, len(t.holdings))
	for _, h := range t.holdings {
		end := h.End
		if end.IsZero() || end.After(leaseEnd) {
			end = leaseEnd
		}
		if end.After(h.Start) {
			out = append(out, span{holder: h.Holder, start: h.Start.UnixNano(), end: end.UnixNano()})
		}
	}
	return out
}

// share adds to sum peerID's share of t's paid segments within [lo, hi).
func (t terms) share(peerID string, lo, hi int64, sum *dueSum) {
	spans := t.spans()
	points := []int64{lo, hi}
	for _, sg := range t.segments {
		points = append(points, sg.Start.UnixNano(), sg.End.UnixNano())
	}
	for _, sp := range spans {
		points = append(points, sp.start, sp.end)
	}
	slices.Sort(points)
	points = slices.Compact(points)
	for i := 0; i+1 < len(points); i++ {
		a, b := points[i], points[i+1]
		if a < lo || b > hi {
			continue
		}
		seg := -1
		for j, sg := range t.segments {
			if sg.Start.UnixNano() <= a && b <= sg.End.UnixNano() {
				seg = j
				break
			}
		}
		if seg < 0 {
			continue
		}
		holders, mine := int64(0), false
		for _, sp := range spans {
			if sp.start <= a && b <= sp.end {
				holders++
				mine = mine || sp.holder == peerID
			}
		}
		if !mine {
			continue
		}
		sg := t.segments[seg]
		// price * (b-a) / ((end-start) * holders)
		num := new(big.Int).Mul(big.NewInt(sg.Price), big.NewInt(b-a))
		den := new(big.Int).Mul(big.NewInt(sg.End.UnixNano()-sg.Start.UnixNano()), big.NewInt(holders))
		sum.add(num, den)
	}
}

// sizeEvent adds delta bytes from day on.
type sizeEvent struct {
	day   int64
	delta int64
}

func dayNumber(t time.Time) int64 { return t.Unix() / 86400 } // t >= 1970

// sizeEvents appends the days of [first, last] on which peerID held t's file.
func (t terms) sizeEvents(peerID string, first, last int64, events []sizeEvent) []sizeEvent {
	type days struct{ from, to int64 }
	var held []days
	for _, sp := range t.spans() {
		if sp.holder != peerID {
			continue
		}
		d := days{from: sp.start / int64(day), to: (sp.end - 1) / int64(day)}
		d.from, d.to = max(d.from, first), min(d.to, last)
		if d.from <= d.to {
			held = append(held, d)
		}
	}
	slices.SortFunc(held, func(a, b days) int { return int(a.from - b.from) })
	// Merge overlapping ranges, so a file counts once a day.
	for i := 0; i < len(held); {
		cur := held[i]
		j := i + 1
		for ; j < len(held) && held[j].from <= cur.to+1; j++ {
			cur.to = max(cur.to, held[j].to)
		}
		events = append(events, sizeEvent{cur.from, t.size}, sizeEvent{cur.to + 1, -t.size})
		i = j
	}
	return events
}

func maxDailySize(events []sizeEvent) int64 {
	slices.SortFunc(events, func(a, b sizeEvent) int {
		switch {
		case a.day < b.day:
			return -1
		case a.day > b.day:
			return 1
		}
		return 0
	})
	var cur, best big.Int
	for i := 0; i < len(events); {
		d := events[i].day
		for ; i < len(events) && events[i].day == d; i++ {
			cur.Add(&cur, big.NewInt(events[i].delta))
		}
		if cur.Cmp(&best) > 0 {
			best.Set(&cur)
		}
	}
	if !best.IsInt64() {
		return math.MaxInt64
	}
	return best.Int64()
}

// dueSum is an exact sum of non-negative fractions, rounded down once.
// Fractions are grouped by denominator, so that the pieces of a term add up
// exactly and cheaply; the remainders of the groups are then bounded with
// fixed-point arithmetic, and summed as rationals only in the rare case where
// the bounds straddle an integer. (Adding everything as big.Rat makes the
// denominators grow with every distinct term length: quadratic time.)
type dueSum struct {
	groups map[string]*fraction // by denominator
}

type fraction struct{ num, den *big.Int }

func newDueSum() *dueSum { return &dueSum{groups: make(map[string]*fraction)} }

// add adds num/den (num >= 0, den > 0); it keeps neither argument.
func (d *dueSum) add(num, den *big.Int) {
	key := string(den.Bytes())
	g, ok := d.groups[key]
	if !ok {
		g = &fraction{num: new(big.Int), den: new(big.Int).Set(den)}
		d.groups[key] = g
	}
	g.num.Add(g.num, num)
}

// fixedBits is the precision of the bounds on the sum of remainders.
const fixedBits = 192

// floor returns the sum rounded down (math.MaxInt64 if it does not fit).
// The result does not depend on the order of the additions.
func (d *dueSum) floor() int64 {
	whole := new(big.Int)
	lo := new(big.Int)
	var rems []fraction
	for _, g := range d.groups {
		q, r := new(big.Int).QuoRem(g.num, g.den, new(big.Int))
		whole.Add(whole, q)
		if r.Sign() == 0 {
			continue
		}
		rems = append(rems, fraction{num: r, den: g.den})
		t := new(big.Int).Lsh(r, fixedBits)
		lo.Add(lo, t.Quo(t, g.den))
	}
	// The remainders sum to F with lo <= F*2^fixedBits <= lo+len(rems).
	hi := new(big.Int).Add(lo, big.NewInt(int64(len(rems))))
	flo, fhi := new(big.Int).Rsh(lo, fixedBits), new(big.Int).Rsh(hi, fixedBits)
	if flo.Cmp(fhi) == 0 {
		whole.Add(whole, flo)
	} else {
		exact := new(big.Rat)
		for _, r := range rems {
			exact.Add(exact, new(big.Rat).SetFrac(r.num, r.den))
		}
		whole.Add(whole, new(big.Int).Quo(exact.Num(), exact.Denom()))
	}
	if !whole.IsInt64() {
		return math.MaxInt64
	}
	return whole.Int64()
}
