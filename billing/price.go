package billing

import (
	"math"
	"math/big"
	"time"
)

// NanoPerToken is the number of nanotokens in one token. Money is an integer
// count of nanotokens everywhere in the ledger; never a float.
const NanoPerToken int64 = 1_000_000_000

// Month is the length of the month in which Settings.Rate is expressed.
const Month int64 = 2_592_000 // 30 days, in seconds

// GiB is the size unit in which Settings.Rate is expressed.
const GiB int64 = 1 << 30

// Bounds that keep every time the ledger computes inside the range that
// time.Time, JSON and Unix nanoseconds all represent exactly.
const (
	// MaxTermLimit is the largest MaxTerm a network may choose (100 years).
	MaxTermLimit int64 = 100 * 365 * 86400
	// MaxQuoteLifetime is the largest QuoteLifetime a network may choose (1 year).
	MaxQuoteLifetime int64 = 365 * 86400
	// MaxSigners bounds Replicas, Threshold, and the attestations or
	// receipts one command may carry, so that no command costs more than a
	// bounded number of signature checks.
	MaxSigners = 64
	// MaxIDLen bounds file ids, payment ids, cids and peer ids.
	MaxIDLen = 256
)

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)
	// horizon is later than every time the ledger holds: maxTime plus the
	// longest term, and still inside the range of Unix nanoseconds (2262).
	horizon = maxTime.Add(time.Duration(MaxTermLimit+MaxQuoteLifetime) * time.Second)
)

// validTime reports whether t lies in [1970, 2150), the range of times the
// ledger accepts in commands and quotes.
func validTime(t time.Time) bool {
	return !t.Before(minTime) && t.Before(maxTime)
}

// Settings are the network's billing parameters, fixed by the Init command.
type Settings struct {
	Replicas      int   `json:"replicas"`
	ChunkSize     int64 `json:"chunk_size"`
	Rate          int64 `json:"rate"`           // nanotokens per GiB-month per replica (month = 30 days = 2592000 s)
	MinPrice      int64 `json:"min_price"`      // nanotokens
	QuoteLifetime int64 `json:"quote_lifetime"` // seconds
	MaxTerm       int64 `json:"max_term"`       // seconds
	Threshold     int   `json:"threshold"`      // attestations needed on a quote (3 in a network)
	SelfAttest    bool  `json:"self_attest"`    // --dev: the issuer may attest its own quotes (threshold 1)
	// LapsedQuoteRetention is how long, in seconds, a new file's quote
	// that lapsed unpaid is kept after it lapsed (paying it answers
	// quoteExpired meanwhile); then the file is forgotten. Zero, as in
	// ledgers made before retention, means DefaultLapsedQuoteRetention.
	LapsedQuoteRetention int64 `json:"lapsed_quote_retention,omitempty"`
	// TombstoneRetention is how long, in seconds, an expired or cancelled
	// file keeps its tombstone (its id answers gone); then it is
	// forgotten. Zero means DefaultTombstoneRetention.
	TombstoneRetention int64 `json:"tombstone_retention,omitempty"`
}

// The retention windows of a network that sets none (spec/api.md,
// "Retention"), and the longest a network may choose.
const (
	DefaultLapsedQuoteRetention int64 = 86400      // 24 hours
	DefaultTombstoneRetention   int64 = 30 * 86400 // 30 days
	MaxRetention                int64 = 10 * 365 * 86400
)

// ReportWindow is how far back /payments/local may ask (spec/api.md: at
// most the last 400 days): what a report needs of a lease (its paid
// segments and holdings) is kept that long after the lease ended.
const ReportWindow = 400 * 24 * time.Hour

// withDefaults returns s with the settings that older ledgers lack
// filled in with their defaults, so that every replica, whatever version
// wrote its Init or snapshot, prunes on the same schedule.
func (s Settings) withDefaults() Settings {
	if s.LapsedQuoteRetention == 0 {
		s.LapsedQuoteRetention = DefaultLapsedQuoteRetention
	}
	if s.TombstoneRetention == 0 {
		s.TombstoneRetention = DefaultTombstoneRetention
	}
	return s
}

// DefaultSettings are the settings of a network: 3 replicas, 1 MiB chunks,
// 0.05 token per GiB-month per replica, a minimum price of 1000 nanotokens,
// quotes valid 900 s, terms up to 10 years, 3 attestations per quote.
func DefaultSettings() Settings {
	return Settings{
		Replicas:      3,
		ChunkSize:     1 << 20,
		Rate:          50_000_000,
		MinPrice:      1000,
		QuoteLifetime: 900,
		MaxTerm:       315_360_000,
		Threshold:     3,

		LapsedQuoteRetention: DefaultLapsedQuoteRetention,
		TombstoneRetention:   DefaultTombstoneRetention,
	}
}

// DevSettings are the settings of a one-node --dev network: one replica, and
// the node attests its own quotes.
func DevSettings() Settings {
	s := DefaultSettings()
	s.Replicas = 1
	s.Threshold = 1
	s.SelfAttest = true
	return s
}

// Validate reports the first setting out of range, as an ErrInvalid refusal.
func (s Settings) Validate() error {
	switch {
	case s.Replicas < 1 || s.Replicas > MaxSigners:
		return refusal(ErrInvalid, "replicas must be between 1 and %d", MaxSigners)
	case s.ChunkSize <= 0:
		return refusal(ErrInvalid, "chunk size must be positive")
	case s.Rate < 0:
		return refusal(ErrInvalid, "rate must not be negative")
	case s.MinPrice < 0:
		return refusal(ErrInvalid, "minimum price must not be negative")
	case s.QuoteLifetime <= 0:
		return refusal(ErrInvalid, "quote lifetime must be positive")
	case s.QuoteLifetime > MaxQuoteLifetime:
		return refusal(ErrInvalid, "quote lifetime must be at most %d s", MaxQuoteLifetime)
	case s.MaxTerm <= 0:
		return refusal(ErrInvalid, "max term must be positive")
	case s.MaxTerm > MaxTermLimit:
		return refusal(ErrInvalid, "max term must be at most %d s", MaxTermLimit)
	case s.Threshold < 1 || s.Threshold > MaxSigners:
		return refusal(ErrInvalid, "threshold must be between 1 and %d", MaxSigners)
	case s.SelfAttest && s.Threshold != 1:
		return refusal(ErrInvalid, "self attestation needs threshold 1")
	case s.LapsedQuoteRetention < 0 || s.LapsedQuoteRetention > MaxRetention:
		return refusal(ErrInvalid, "lapsed quote retention must be between 0 (the default) and %d s", MaxRetention)
	case s.TombstoneRetention < 0 || s.TombstoneRetention > MaxRetention:
		return refusal(ErrInvalid, "tombstone retention must be between 0 (the default) and %d s", MaxRetention)
	}
	return nil
}

var priceDenominator = new(big.Int).Mul(big.NewInt(GiB), big.NewInt(Month))

// Price is the price in nanotokens of storing size bytes for duration seconds
// on replicas nodes: max(MinPrice, ceil(size*duration*replicas*Rate /
// (GiB*2592000))), in exact integer arithmetic. Negative inputs count as zero.
// A price that does not fit in an int64 is returned as math.MaxInt64, which
// Quote.Check refuses.
func Price(s Settings, size, duration int64, replicas int) int64 {
	n := new(big.Int).SetInt64(max(size, 0))
	n.Mul(n, big.NewInt(max(duration, 0)))
	n.Mul(n, big.NewInt(int64(max(replicas, 0))))
	n.Mul(n, big.NewInt(max(s.Rate, 0)))
	// ceil(n/d) = (n + d - 1) / d for n >= 0
	n.Add(n, priceDenominator)
	n.Sub(n, big.NewInt(1))
	n.Quo(n, priceDenominator)
	p := int64(math.MaxInt64)
	if n.IsInt64() {
		p = n.Int64()
	}
	return max(p, s.MinPrice)
}

// addMoney adds two non-negative amounts, reporting overflow.
func addMoney(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}
