package httpapi

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/ddsnet/dds/api"
)

// Uploads in progress are bounded, on the node and per client, so that
// one client that opens a thousand cannot take a node's goroutines and
// connections. Past the client's bound the answer is 429 (rateLimited),
// past the node's 503 (unavailable), both with Retry-After.
//
// The node's bound is high: an upload whose bytes do not come costs a few
// goroutines and a 4 KiB piece, not a chunk buffer (chunk.Store takes one
// only when the chunk's first 4 KiB came, from a budget all uploads
// share), and a low bound let a few addresses that opened uploads and
// sent nothing lock every other client out. At 64, 1,300 stalled and
// trickling uploads from 20 addresses had all of a normal client's
// uploads refused (cmd/dds BenchmarkAbusiveUploads).

// Defaults of Config.MaxUploads and Config.MaxClientUploads.
const (
	DefaultMaxUploads       = 1024
	DefaultMaxClientUploads = 16
)

// uploadSlots counts the uploads in progress, in all and by client.
type uploadSlots struct {
	mu        sync.Mutex
	total     int
	max       int
	perClient int
	by        map[string]int
}

func newUploadSlots(max, perClient int) *uploadSlots {
	return &uploadSlots{max: max, perClient: perClient, by: map[string]int{}}
}

// take reserves a slot for client, or returns the refusal (status and
// error) when the client or the node has as many as it may.
func (u *uploadSlots) take(client string) (release func(), status int, e api.Error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.by[client] >= u.perClient:
		return nil, http.StatusTooManyRequests, newError(http.StatusTooManyRequests, api.CodeRateLimited,
			fmt.Sprintf("this client has %d uploads in progress, the most a client may; retry when one ends", u.perClient), nil)
	case u.total >= u.max:
		return nil, http.StatusServiceUnavailable, newError(http.StatusServiceUnavailable, api.CodeUnavailable,
			fmt.Sprintf("the node is taking %d uploads, as many as it takes at once; retry", u.max), nil)
	}
	u.total++
	u.by[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.total--
			if u.by[client]--; u.by[client] <= 0 {
				delete(u.by, client)
			}
		})
	}, 0, api.Error{}
}
