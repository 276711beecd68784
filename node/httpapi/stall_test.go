package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStalledBodyIsCut: an upload whose body trickles (a byte every 50 ms,
// far less than 64 KiB within the stall bound) loses its connection soon
// after the bound, while an upload at a sane rate on the same server goes
// through.
func TestStalledBodyIsCut(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.Stall = 300 * time.Millisecond })
	srv := httptest.NewServer(s)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /files?name=slow.bin HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", 1<<20)
	cut := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		// Whatever the server answers, it must end the connection.
		br := bufio.NewReader(conn)
		_, _ = http.ReadResponse(br, nil)
		for {
			if _, err := br.ReadByte(); err != nil {
				cut <- time.Since(start)
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case d := <-cut:
			if d > 3*time.Second {
				t.Fatalf("the trickling upload held its connection %v", d)
			}
			// An upload that moves goes through the same server.
			resp, err := http.Post(srv.URL+"/files?name=fast.bin", "application/octet-stream", bytes.NewReader(make([]byte, 1<<20)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPaymentRequired {
				t.Fatalf("the honest upload: %d", resp.StatusCode)
			}
			return
		case <-tick.C:
			if time.Since(start) > 5*time.Second {
				t.Fatal("the trickling upload was never cut")
			}
			_, _ = conn.Write([]byte{'x'})
		}
	}
}
