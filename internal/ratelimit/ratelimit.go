// Package ratelimit is a token bucket per key (an HTTP client's address, a
// peer's id) in a bounded table whose idle entries are evicted as new keys
// arrive, with no goroutine of its own: node/httpapi limits requests per
// client with it, p2p/wire per peer.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// IdleAfter is how long a key's bucket is kept without requests.
const IdleAfter = time.Minute

// Table is a token bucket per key, in a table of at most max keys. Safe
// for concurrent use.
type Table struct {
	limit     rate.Limit
	burst     int
	max       int
	mu        sync.Mutex
	clients   map[string]*client
	lastSweep time.Time
}

type client struct {
	bucket *rate.Limiter
	seen   time.Time
}

// New returns a table of buckets of limit tokens a second and burst
// tokens, for at most max keys.
func New(limit rate.Limit, burst, max int) *Table {
	return &Table{limit: limit, burst: burst, max: max, clients: make(map[string]*client)}
}

// Allow takes a token for key, or says how long until one is there.
func (l *Table) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max || now.Sub(l.lastSweep) > IdleAfter {
			l.Sweep(now)
		}
		c = &client{bucket: rate.NewLimiter(l.limit, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	res := c.bucket.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Sweep drops idle keys; if the table is still full it drops arbitrary
// ones down to three quarters, so one sweep pays for many insertions.
func (l *Table) Sweep(now time.Time) {
	l.lastSweep = now
	for k, c := range l.clients {
		if now.Sub(c.seen) > IdleAfter || c.bucket.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
	for k := range l.clients {
		if len(l.clients) < l.max*3/4 {
			break
		}
		delete(l.clients, k)
	}
}

// Len is the number of keys in the table.
func (l *Table) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
