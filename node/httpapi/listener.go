package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ddsnet/dds/api"
)

// MaxHeaderBytes bounds a request's header block (the server's
// http.Server.MaxHeaderBytes). net/http's default, 1 MiB, let a thousand
// connections hold a gigabyte of headers; 64 KiB is 8 times what common
// proxies accept and leaves room for long presigned URLs.
const MaxHeaderBytes = 64 << 10

// Listener wraps ln so that the refusals net/http's server writes by
// itself, before any handler runs, go out as JSON:API error documents like
// every other answer of the API: 431 for a header block over
// MaxHeaderBytes, 400 for a malformed request, 501 for an unsupported
// transfer encoding, 505 for an unsupported HTTP version. net/http writes
// each of them in one Write, in plain text, on the connection it then
// closes (server.go, conn.serve); nothing else it writes has that shape.
func Listener(ln net.Listener) net.Listener { return errorListener{ln} }

type errorListener struct{ net.Listener }

func (l errorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &errorConn{Conn: c}, nil
}

// errorConn rewrites the server's own plain-text refusals.
type errorConn struct{ net.Conn }

// serverErrorHeaders are the header lines net/http sends with its own
// refusals; a handler's answer always carries a Date header between them.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// maxServerError bounds the refusals recognised: net/http's are short.
const maxServerError = 512

func (c *errorConn) Write(p []byte) (int, error) {
	if doc, ok := serverRefusal(p); ok {
		if _, err := c.Conn.Write(doc); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for the
// bodies the server copies straight from a file.
func (c *errorConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite keeps the half-close net/http uses to end a connection
// cleanly.
func (c *errorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// serverRefusal turns net/http's plain-text refusal p into the same
// answer with a JSON:API error document; ok is false for anything else.
func serverRefusal(p []byte) (doc []byte, ok bool) {
	const proto = "HTTP/1.1 "
	if len(p) > maxServerError || len(p) < len(proto)+3 || !bytes.HasPrefix(p, []byte(proto)) || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return nil, false
	}
	i := bytes.Index(p, []byte(serverErrorHeaders))
	if i < 0 {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil || http.StatusText(status) == "" {
		return nil, false
	}
	// The body is "431 Request Header Fields Too Large", or "400 Bad
	// Request: missing required Host header" when net/http says why.
	detail := string(p[i+len(serverErrorHeaders):])
	detail = strings.TrimPrefix(detail, strconv.Itoa(status)+" "+http.StatusText(status))
	detail = strings.TrimPrefix(detail, ": ")
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		detail = fmt.Sprintf("the request's header fields are larger than the %d bytes this node accepts", MaxHeaderBytes)
	case detail == "":
		detail = "the request is not well-formed HTTP/1.1"
	}
	body, err := json.Marshal(api.ErrorDocument{Errors: []api.Error{newError(status, api.CodeInvalidRequest, detail, nil)}})
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, http.StatusText(status), api.MediaType, len(body))
	b.Write(body)
	return b.Bytes(), true
}
