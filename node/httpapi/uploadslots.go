package httpapi

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/ddsnet/dds/api"
)

// Uploads in progress are bounded, on the node and per client: each holds
// a connection, a goroutine and the chunker's buffer (a chunk, 1 MiB by
// default) while its bytes arrive, so a thousand clients that each send a
// byte of a body, or one client that opens a thousand, cannot take a
// node's memory. Past the client's bound the answer is 429 (rateLimited),
// past the node's 503 (unavailable), both with Retry-After.

// Defaults of Config.MaxUploads and Config.MaxClientUploads.
const (
	DefaultMaxUploads       = 64
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
