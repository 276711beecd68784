package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the rate limiter's table of clients.
const maxClients = 16384

// idleAfter is how long a client's bucket is kept without requests.
const idleAfter = time.Minute

// limiter is a token bucket per client, in a bounded table whose idle
// entries are evicted as new clients arrive (no goroutine).
type limiter struct {
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

func newLimiter(limit rate.Limit, burst, max int) *limiter {
	return &limiter{limit: limit, burst: burst, max: max, clients: make(map[string]*client)}
}

// allow takes a token for key, or says how long until one is there.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max || now.Sub(l.lastSweep) > idleAfter {
			l.sweep(now)
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

// sweep drops idle clients; if the table is still full it drops arbitrary
// ones down to three quarters, so one sweep pays for many insertions.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, c := range l.clients {
		if now.Sub(c.seen) > idleAfter || c.bucket.TokensAt(now) >= float64(l.burst) {
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

// len is the number of clients in the table.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
