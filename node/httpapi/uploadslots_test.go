package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
)

// Uploads in progress are bounded per client (429) and on the node (503),
// each refusal a JSON:API error with Retry-After; a slot comes back when
// its upload ends.
func TestUploadSlots(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.MaxUploads, c.MaxClientUploads = 3, 2 })
	ts := httptest.NewServer(s)
	defer ts.Close()

	// stalled starts an upload whose body sends nothing until closed, from
	// the client at addr (a header the test server cannot fake: the node
	// counts by the connection's address, here all 127.0.0.1; the node
	// bound is checked with the per-client one raised below).
	// A client of its own: no connection kept from another test.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var writers []*io.PipeWriter
	var wg sync.WaitGroup
	// release ends the stalled uploads; the servers wait for them to close.
	release := func() {
		for _, w := range writers {
			w.Close()
		}
		writers = nil
		wg.Wait()
	}
	defer release()
	stalled := func(url string) {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, err := http.NewRequest("POST", url+"/files?name=x", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		wg.Go(func() {
			resp, err := client.Do(req)
			if err != nil {
				t.Logf("stalled upload: %v", err)
				return
			}
			resp.Body.Close()
		})
	}
	// inProgress waits until s counts n uploads in progress (the stalled
	// ones reached it), so that a probe never races them for a slot.
	inProgress := func(s *Server, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.uploads.mu.Lock()
			got := s.uploads.total
			s.uploads.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d uploads in progress, want %d", got, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	refused := func(url string, want int, code string) {
		t.Helper()
		resp, err := client.Post(url+"/files?name=y", "application/octet-stream", strings.NewReader("y"))
		if err != nil {
			t.Fatal(err)
		}
		var doc api.ErrorDocument
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Retry-After") == "" || len(doc.Errors) != 1 || doc.Errors[0].Code != code {
			t.Fatalf("got %d (Retry-After %q, errors %+v), want %d %s while uploads stall",
				resp.StatusCode, resp.Header.Get("Retry-After"), doc.Errors, want, code)
		}
	}
	stalled(ts.URL)
	stalled(ts.URL)
	inProgress(s, 2)
	refused(ts.URL, http.StatusTooManyRequests, api.CodeRateLimited)
	// One ends: the client may upload again.
	writers[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Post(ts.URL+"/files?name=z", "application/octet-stream", strings.NewReader("z"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
			break // taken (402: quoted, awaiting payment)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an upload ended: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()

	// The node's bound, with the client's raised past it.
	s2, _ := newTestServer(t, func(c *Config) { c.MaxUploads, c.MaxClientUploads = 2, 10 })
	ts2 := httptest.NewServer(s2)
	defer ts2.Close() // after the deferred release of the stalled uploads below
	stalled(ts2.URL)
	stalled(ts2.URL)
	inProgress(s2, 2)
	refused(ts2.URL, http.StatusServiceUnavailable, api.CodeUnavailable)
	release()
}
