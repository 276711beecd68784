package billing

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// midnight is a UTC day start, so that day ranges are easy to reason about.
var midnight = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func dayN(n int) time.Time { return midnight.AddDate(0, 0, n) }

const dayS = 86400

func TestLocalReportSingleHolder(t *testing.T) {
	f := newFixtureAt(t, DevSettings(), midnight)
	q := f.paid("a", 5*GiB, 10*dayS)
	f.must(f.holdCmd("a", 0))
	p := q.Price
	cases := []struct {
		name     string
		from, to time.Time
		want     int64
	}{
		{"whole term", dayN(0), dayN(9), p},
		{"more than the term", dayN(-5), dayN(30), p},
		{"three days", dayN(1), dayN(3), p * 3 / 10},
		{"one day", dayN(9), dayN(9), p / 10},
		{"one day given mid-day", dayN(9).Add(13 * time.Hour), dayN(9).Add(time.Hour), p / 10},
		{"after the term", dayN(10), dayN(20), 0},
		{"before the term", dayN(-3), dayN(-1), 0},
		{"from after to", dayN(5), dayN(4), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.s.LocalReport(peerName(0), tc.from, tc.to)
			if r.Amount != tc.want {
				t.Fatalf("amount %d, want %d (price %d)", r.Amount, tc.want, p)
			}
			wantSize := int64(0)
			if tc.want > 0 {
				wantSize = 5 * GiB
			}
			if r.Size != wantSize {
				t.Fatalf("size %d, want %d", r.Size, wantSize)
			}
		})
	}
	if r := f.s.LocalReport(peerName(1), dayN(0), dayN(9)); r != (LocalReport{}) {
		t.Fatalf("a node that holds nothing is due %+v", r)
	}
	// The lease ends: nothing is due after it, and the report of the term
	// does not change.
	f.now = dayN(10)
	f.must(Command{Expire: &Expire{}})
	if r := f.s.LocalReport(peerName(0), dayN(0), dayN(30)); r.Amount != p {
		t.Fatalf("after expiry %+v", r)
	}
}

func TestLocalReportSeveralHolders(t *testing.T) {
	f := newFixtureAt(t, DefaultSettings(), midnight)
	q := f.paid("a", 3*GiB, 12*dayS)
	f.must(f.holdCmd("a", 1, 2))
	f.now = dayN(6)
	f.must(f.holdCmd("a", 3))
	p := q.Price
	// First half split by two, second half by three.
	want := map[int]int64{1: floorFrac(p*5, 12), 2: floorFrac(p*5, 12), 3: floorFrac(p, 6)}
	var sum int64
	for holder, w := range want {
		r := f.s.LocalReport(peerName(holder), dayN(0), dayN(11))
		if r.Amount != w || r.Size != 3*GiB {
			t.Fatalf("holder %d: %+v, want %d", holder, r, w)
		}
		sum += r.Amount
	}
	if sum > p || p-sum > 3 {
		t.Fatalf("holders got %d of %d", sum, p)
	}
	// Holder 3 before it joined: nothing.
	if r := f.s.LocalReport(peerName(3), dayN(0), dayN(5)); r.Amount != 0 || r.Size != 0 {
		t.Fatalf("holder 3 before joining: %+v", r)
	}
}

func floorFrac(a, b int64) int64 { return a / b }

// TestLocalReportSums checks that over a whole lease, with extensions, odd
// start times and holders joining late, what the holders are due adds up to
// what was paid for the time they held the file, within one nanotoken per
// holder per paid quote.
func TestLocalReportSums(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	f.now = time.Date(2026, 11, 3, 7, 13, 17, 123456789, time.UTC)
	q := f.paid("a", 777_777_777, 5*dayS+12345)
	f.must(f.holdCmd("a", 1, 2, 3))
	f.advance(40 * time.Hour)
	ext := f.extQuote("a", 9*dayS+7)
	f.must(f.putQuote(ext))
	f.must(payCmd("a", "ext", PaymentSuccess, ext.Price))
	q2 := f.paid("b", 123_456_789_012, 3*dayS)
	f.must(f.holdCmd("b", 2, 4, 5))

	paid := q.Price + ext.Price + q2.Price
	var sum int64
	for i := range testPeers {
		sum += f.s.LocalReport(peerName(i), dayN(0), dayN(40)).Amount
	}
	// 3 holders on 3 paid quotes: at most 9 nanotokens lost to rounding
	// (each report rounds once, so at most 1 per holder really).
	if sum > paid || paid-sum > 9 {
		t.Fatalf("holders are due %d, paid %d", sum, paid)
	}
	// Day by day adds up to the whole, within one per day and holder.
	for i := 1; i <= 3; i++ {
		whole := f.s.LocalReport(peerName(i), dayN(0), dayN(40)).Amount
		var days int64
		for d := range 41 {
			days += f.s.LocalReport(peerName(i), dayN(d), dayN(d)).Amount
		}
		if days > whole || whole-days > 41 {
			t.Fatalf("holder %d: days add to %d, whole %d", i, days, whole)
		}
	}
}

func TestLocalReportSize(t *testing.T) {
	f := newFixture(t, DevSettings())
	f.now = dayN(1).Add(time.Hour)
	f.paid("a", 100, 2*dayS-3*3600) // held on days 1 and 2
	f.must(f.holdCmd("a", 0))
	f.now = dayN(2).Add(23 * time.Hour)
	f.paid("b", 50, 3*dayS) // held on days 2 to 5
	f.must(f.holdCmd("b", 0))
	cases := []struct {
		from, to int
		want     int64
	}{{0, 10, 150}, {1, 1, 100}, {2, 2, 150}, {3, 5, 50}, {6, 9, 0}, {0, 0, 0}}
	for _, tc := range cases {
		if got := f.s.LocalReport(peerName(0), dayN(tc.from), dayN(tc.to)).Size; got != tc.want {
			t.Errorf("days %d..%d: size %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestDueSumExact(t *testing.T) {
	cases := [][][2]int64{
		{{1, 2}, {1, 3}, {1, 6}},            // distinct denominators, integer sum: the exact fallback
		{{1, 3}, {1, 3}, {1, 3}},            // one group, integer sum
		{{5, 7}, {3, 11}, {9, 13}, {1, 17}}, // fraction
		{{0, 5}},
		{{7, 1}, {10, 4}},
		{},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		var c [][2]int64
		for range 1 + r.IntN(30) {
			c = append(c, [2]int64{r.Int64N(1 << 40), 1 + r.Int64N(1<<20)})
		}
		c = append(c, [2]int64{0, 1})
		cases = append(cases, c)
	}
	for i, c := range cases {
		d := newDueSum()
		exact := new(big.Rat)
		for _, fr := range c {
			d.add(big.NewInt(fr[0]), big.NewInt(fr[1]))
			exact.Add(exact, big.NewRat(fr[0], fr[1]))
		}
		want := new(big.Int).Quo(exact.Num(), exact.Denom()).Int64()
		if got := d.floor(); got != want {
			t.Fatalf("case %d: floor %d, want %d", i, got, want)
		}
	}
}

// BenchmarkLocalReport measures a report over 2000 files with distinct
// terms, cut mid-term (the case where exact sums are costly).
func BenchmarkLocalReport(b *testing.B) {
	f := newFixture(b, DevSettings())
	for i := range 2000 {
		id := fmt.Sprint("f", i)
		f.paid(id, 1000, int64(100000+i*7))
		f.must(f.holdCmd(id, 0))
		f.advance(13 * time.Second)
	}
	b.ResetTimer()
	for range b.N {
		f.s.LocalReport(peerName(0), t0, t0)
	}
}
