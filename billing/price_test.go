package billing

import (
	"errors"
	"math"
	"math/big"
	"testing"
	"time"
)

func TestPrice(t *testing.T) {
	def := DefaultSettings()
	month := Month
	tests := []struct {
		name     string
		s        Settings
		size     int64
		duration int64
		replicas int
		want     int64
	}{
		{"zero size is the minimum", def, 0, month, 3, 1000},
		{"tiny file is the minimum", def, 1, 1, 3, 1000},
		{"one GiB month one replica", def, GiB, month, 1, 50_000_000},
		{"one GiB month three replicas", def, GiB, month, 3, 150_000_000},
		{"ten GiB ten years", def, 10 * GiB, 315_360_000, 3, 150_000_000 * 10 * 121}, // 121.666 months -> exact below
		{"rounds up", Settings{Rate: 1, MinPrice: 0}, 1, 1, 1, 1},
		{"exact division does not round up", Settings{Rate: 1}, GiB, month, 1, 1},
		{"one more byte rounds up", Settings{Rate: 1}, GiB + 1, month, 1, 2},
		{"zero rate is the minimum", Settings{MinPrice: 7}, GiB, month, 3, 7},
		{"zero minimum and zero size", Settings{Rate: 50_000_000}, 0, month, 3, 0},
		{"huge size saturates", def, math.MaxInt64, 315_360_000, 3, math.MaxInt64},
		{"negative inputs count as zero", def, -5, -5, -1, 1000},
	}
	// ten GiB ten years: 10 * 315360000/2592000 * 3 * 0.05 token, rounded up.
	tests[4].want = ceilDiv(10*GiB, 315_360_000*3*50_000_000, GiB*month)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Price(tt.s, tt.size, tt.duration, tt.replicas); got != tt.want {
				t.Fatalf("Price = %d, want %d", got, tt.want)
			}
		})
	}
}

// ceilDiv computes ceil(a*b/c) with big integers, independently of Price.
func ceilDiv(a, b, c int64) int64 {
	n := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	q, r := new(big.Int).QuoRem(n, big.NewInt(c), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

func TestPriceLargeNoOverflow(t *testing.T) {
	// 1 PiB for 10 years on 3 replicas: the product overflows int64 but the
	// price does not.
	s := DefaultSettings()
	size := int64(1 << 50)
	got := Price(s, size, 315_360_000, 3)
	want := ceilDiv(size/GiB, 315_360_000*3*50_000_000, Month)
	if got != want {
		t.Fatalf("Price = %d, want %d", got, want)
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	if err := DevSettings().Validate(); err != nil {
		t.Fatalf("dev: %v", err)
	}
	d := DefaultSettings()
	if d.Replicas != 3 || d.ChunkSize != 1<<20 || d.Rate != 50_000_000 || d.MinPrice != 1000 ||
		d.QuoteLifetime != 900 || d.MaxTerm != 315_360_000 || d.Threshold != 3 || d.SelfAttest {
		t.Fatalf("default settings: %+v", d)
	}
	if v := DevSettings(); v.Replicas != 1 || v.Threshold != 1 || !v.SelfAttest {
		t.Fatalf("dev settings: %+v", v)
	}
	bad := map[string]func(*Settings){
		"replicas 0":         func(s *Settings) { s.Replicas = 0 },
		"chunk 0":            func(s *Settings) { s.ChunkSize = 0 },
		"rate negative":      func(s *Settings) { s.Rate = -1 },
		"min negative":       func(s *Settings) { s.MinPrice = -1 },
		"lifetime 0":         func(s *Settings) { s.QuoteLifetime = 0 },
		"lifetime too long":  func(s *Settings) { s.QuoteLifetime = MaxQuoteLifetime + 1 },
		"max term 0":         func(s *Settings) { s.MaxTerm = 0 },
		"max term too long":  func(s *Settings) { s.MaxTerm = MaxTermLimit + 1 },
		"threshold 0":        func(s *Settings) { s.Threshold = 0 },
		"threshold 65":       func(s *Settings) { s.Threshold = MaxSigners + 1 },
		"replicas 65":        func(s *Settings) { s.Replicas = MaxSigners + 1 },
		"self attest with 3": func(s *Settings) { s.SelfAttest = true },
		"self attest with 2": func(s *Settings) { s.SelfAttest = true; s.Threshold = 2 },
	}
	for name, mod := range bad {
		t.Run(name, func(t *testing.T) {
			s := DefaultSettings()
			mod(&s)
			if err := s.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want invalidValue", err)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	e := refusal(ErrAlreadyPaid, "file %s paid", "x")
	var err error = e
	if !errors.Is(err, ErrAlreadyPaid) || errors.Is(err, ErrConflict) {
		t.Fatal("errors.Is does not match by code")
	}
	if e.Error() != "file x paid" {
		t.Fatalf("message %q", e.Error())
	}
	if (Result{}).Refusal() != nil {
		t.Fatal("Refusal of an applied command is not nil")
	}
	// A decoded result still matches the sentinel.
	r, err := DecodeResult(Result{Err: e}.Encode())
	if err != nil || !errors.Is(r.Refusal(), ErrAlreadyPaid) {
		t.Fatalf("decoded result: %v, %v", r.Err, err)
	}
}

func TestQuoteCheck(t *testing.T) {
	s := DefaultSettings()
	base := Quote{FileID: "f", Kind: QuoteNew, Issuer: "p", CID: "c", Size: 10, Name: "n",
		Duration: 100, Replicas: 3, CreatedAt: t0, ExpiresAt: t0.Add(900 * time.Second)}
	base.Price = Price(s, 10, 100, 3)
	if err := base.Check(s); err != nil {
		t.Fatalf("valid quote: %v", err)
	}
	bad := map[string]func(*Quote){
		"kind":           func(q *Quote) { q.Kind = "other" },
		"no file id":     func(q *Quote) { q.FileID = "" },
		"no issuer":      func(q *Quote) { q.Issuer = "" },
		"no cid":         func(q *Quote) { q.CID = "" },
		"empty name":     func(q *Quote) { q.Name = "" },
		"long name":      func(q *Quote) { q.Name = string(make([]byte, 256)) },
		"negative size":  func(q *Quote) { q.Size = -1 },
		"zero duration":  func(q *Quote) { q.Duration = 0 },
		"over max term":  func(q *Quote) { q.Duration = s.MaxTerm + 1 },
		"replicas":       func(q *Quote) { q.Replicas = 2 },
		"price":          func(q *Quote) { q.Price++ },
		"expiry":         func(q *Quote) { q.ExpiresAt = q.ExpiresAt.Add(time.Second) },
		"zero time":      func(q *Quote) { q.CreatedAt = time.Time{} },
		"prev on new":    func(q *Quote) { q.PrevDuration = 1 },
		"ext not longer": func(q *Quote) { q.Kind = QuoteExtension; q.PrevDuration = 100 },
		"ext price of all": func(q *Quote) {
			q.Kind = QuoteExtension
			q.PrevDuration = 50
			q.Size = GiB
			q.Price = Price(s, GiB, 100, 3)
		},
	}
	for name, mod := range bad {
		t.Run(name, func(t *testing.T) {
			q := base
			mod(&q)
			if err := q.Check(s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check = %v, want invalidValue", err)
			}
		})
	}
	huge := base
	huge.Size = math.MaxInt64
	huge.Duration = s.MaxTerm
	huge.Price = Price(s, huge.Size, huge.Duration, 3)
	if err := huge.Check(s); !errors.Is(err, ErrInvalid) {
		t.Fatalf("saturated price accepted: %v", err)
	}
}

func TestCanonicalCoversEveryField(t *testing.T) {
	q := Quote{FileID: "f", Kind: QuoteNew, Issuer: "p", CID: "c", Size: 10, Name: "n",
		Duration: 100, PrevDuration: 0, Replicas: 3, Price: 5, CreatedAt: t0, ExpiresAt: t0.Add(time.Second)}
	mods := []func(*Quote){
		func(q *Quote) { q.FileID = "g" }, func(q *Quote) { q.Kind = QuoteExtension },
		func(q *Quote) { q.Issuer = "r" }, func(q *Quote) { q.CID = "d" },
		func(q *Quote) { q.Size = 11 }, func(q *Quote) { q.Name = "m" },
		func(q *Quote) { q.Duration = 101 }, func(q *Quote) { q.PrevDuration = 1 },
		func(q *Quote) { q.Replicas = 1 }, func(q *Quote) { q.Price = 6 },
		func(q *Quote) { q.CreatedAt = q.CreatedAt.Add(1) }, func(q *Quote) { q.ExpiresAt = q.ExpiresAt.Add(1) },
		// moving bytes between adjacent strings changes the encoding
		func(q *Quote) { q.FileID = "fp"; q.Kind = "" },
	}
	seen := map[string]bool{string(q.Canonical()): true}
	for i, mod := range mods {
		c := q
		mod(&c)
		b := string(c.Canonical())
		if seen[b] {
			t.Fatalf("modification %d does not change the canonical bytes", i)
		}
		seen[b] = true
	}
	// The location of a time does not matter.
	c := q
	c.CreatedAt = c.CreatedAt.In(time.FixedZone("x", 3600))
	if string(c.Canonical()) != string(q.Canonical()) {
		t.Fatal("time zone changes the canonical bytes")
	}
	r := Receipt{FileID: "f", CID: "c", Size: 1, Holder: "h"}
	r2 := r
	r2.Size = 2
	if string(r.Canonical()) == string(r2.Canonical()) || string(r.Canonical()[:len(receiptDomain)]) != receiptDomain {
		t.Fatal("receipt canonical bytes")
	}
}
