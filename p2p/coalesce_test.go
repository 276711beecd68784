package p2p

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// recordConn is a net.Conn that records each Write and reads from r.
type recordConn struct {
	net.Conn
	writes [][]byte
	r      *strings.Reader
	reads  int
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *recordConn) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// A batch's writes reach the connection as one write, in order; a write
// outside a batch goes at once, after what was gathered; a batch larger
// than coalesceMaxBatch is sent in parts; reads are buffered.
func TestCoalescedConn(t *testing.T) {
	rec := &recordConn{r: strings.NewReader(strings.Repeat("r", 3*1024))}
	c := newCoalescedConn(rec)

	c.begin()
	for _, s := range []string{"a1", "b22", "c333"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("batched write %q: %d, %v", s, n, err)
		}
	}
	if len(rec.writes) != 0 {
		t.Fatalf("%d writes reached the connection during the batch", len(rec.writes))
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || string(rec.writes[0]) != "a1b22c333" {
		t.Fatalf("after the batch: writes %q, want one of a1b22c333", rec.writes)
	}

	// A write from outside the batch (an alert, say) while one is open is
	// gathered behind it; after the batch, writes go at once.
	rec.writes = nil
	c.begin()
	_, _ = c.Write([]byte("x"))
	_, _ = c.Write([]byte("alert"))
	_ = c.end()
	_, _ = c.Write([]byte("later"))
	if got := bytes.Join(rec.writes, []byte("|")); string(got) != "xalert|later" {
		t.Fatalf("writes %q, want xalert then later", got)
	}

	// More than coalesceMaxBatch: the gathered part goes first, in order.
	rec.writes = nil
	big := bytes.Repeat([]byte("y"), coalesceMaxBatch-2)
	c.begin()
	_, _ = c.Write([]byte("head"))
	_, _ = c.Write(big)
	_, _ = c.Write([]byte("tail"))
	_ = c.end()
	if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, append(append([]byte("head"), big...), "tail"...)) {
		t.Fatalf("oversized batch: %d bytes in %d writes, out of order or lost", len(got), len(rec.writes))
	}
	if len(rec.writes) < 2 {
		t.Fatalf("oversized batch in %d write", len(rec.writes))
	}

	// Small reads are served from one read of the connection.
	p := make([]byte, 100)
	for range 10 {
		if n, err := c.Read(p); err != nil || n != 100 {
			t.Fatalf("read: %d, %v", n, err)
		}
	}
	if rec.reads != 1 {
		t.Fatalf("%d reads of the connection for 10 small reads", rec.reads)
	}
}
