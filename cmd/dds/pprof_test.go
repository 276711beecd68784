package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDaemonPprof: with --pprof-addr the daemon serves the runtime
// profiles there and the API port does not; without it, nothing says
// pprof. The daemon stops cleanly with the profile server open.
func TestDaemonPprof(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	d := startDaemon(t, t.TempDir(), "--pprof-addr", "127.0.0.1:0")
	// The line comes before "dds: serving", but may reach d.stderr just
	// after startDaemon saw that one (both in one read of the pipe).
	var m []string
	for deadline := time.Now().Add(5 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		m = regexp.MustCompile(`dds: pprof (http://\S+/debug/pprof/)`).FindStringSubmatch(d.stderr.String())
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("no pprof address on stderr:\n%s", d.stderr)
		}
	}
	if code, body := get(m[1]); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET %s: %d, want 200 with the profiles' index:\n%.300s", m[1], code, body)
	}
	if code, body := get(m[1] + "goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.200s", code, body)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		if code, _ := get(d.url + p); code != http.StatusNotFound {
			t.Errorf("API port GET %s: %d, want 404", p, code)
		}
	}
	d.stop(t)

	plain := startDaemon(t, t.TempDir())
	if strings.Contains(plain.stderr.String(), "pprof") {
		t.Errorf("a daemon without --pprof-addr mentions pprof:\n%s", plain.stderr)
	}
	plain.stop(t)
}
