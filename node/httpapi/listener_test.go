package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
)

// TestServerRefusalsAreJSONAPI: what net/http refuses before any handler
// runs (a header block over MaxHeaderBytes, a malformed request, an
// unsupported transfer encoding) is answered with a JSON:API error
// document, like every other refusal; the handlers' own answers, plain
// text ones included, pass unchanged.
func TestServerRefusalsAreJSONAPI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: MaxHeaderBytes,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "the handler's own")
		})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { srv.Close(); <-done })

	send := func(req string) (*http.Response, []byte) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, req) // the server may answer before it read it all
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.40q: %v", req, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	for _, c := range []struct {
		name, req string
		status    int
		detail    string
	}{
		{"10 MB of header", "GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 10<<20) + "\r\n\r\n", 431, "larger than the 65536 bytes"},
		{"a malformed request line", "GET\r\n\r\n", 400, "not well-formed HTTP/1.1"},
		{"a header without a colon", "GET /info HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400, "not well-formed HTTP/1.1"},
		{"no Host header", "GET /info HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"an unsupported transfer encoding", "POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "nsupported transfer encoding"},
		{"an unsupported HTTP version", "GET /info HTTP/2.5\r\nHost: x\r\n\r\n", 505, "unsupported protocol version"},
	} {
		resp, body := send(c.req)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != api.MediaType {
			t.Errorf("%s: %d %q, want %d %s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, api.MediaType)
			continue
		}
		var doc api.ErrorDocument
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) != 1 {
			t.Errorf("%s: body %q: %v", c.name, body, err)
			continue
		}
		e := doc.Errors[0]
		if e.Status != strconv.Itoa(c.status) || e.Code != api.CodeInvalidRequest || !strings.Contains(e.Detail, c.detail) {
			t.Errorf("%s: error %+v, want status %d, code %s, detail with %q", c.name, e, c.status, api.CodeInvalidRequest, c.detail)
		}
	}
	resp, body := send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 || string(body) != "the handler's own" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("a handler's answer was changed: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
