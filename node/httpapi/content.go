package httpapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/internal/httpguard"
	"github.com/ddsnet/dds/node"
)

// handleContent serves GET and HEAD /files/{id}: the file's bytes, whole
// or one range.
func (s *Server) handleContent(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f, err := s.svc.Content(ctx, id)
	if f.ID != "" && !s.mayRead(w, r, f) {
		return
	}
	if errors.Is(err, node.ErrPaymentRequired) && f.ID != "" {
		s.writeFile(w, r, http.StatusPaymentRequired, f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag := `"` + f.CID + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	off, length, status := int64(0), f.Size, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == etag) {
		a, b, ok, satisfiable := parseRange(rg, f.Size)
		if ok && !satisfiable {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", f.Size))
			s.writeErrors(w, r, http.StatusRequestedRangeNotSatisfiable, []api.Error{newError(
				http.StatusRequestedRangeNotSatisfiable, api.CodeInvalidValue,
				fmt.Sprintf("the range is outside the file's %d bytes", f.Size), header("Range"))})
			return
		}
		if ok {
			off, length, status = a, b-a+1, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, f.Size))
		}
	}
	ct := mime.TypeByExtension(path.Ext(f.Name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var body io.ReadCloser
	if length > 0 {
		body, err = s.svc.Read(ctx, id, off, length)
		if err != nil {
			for _, k := range []string{"Content-Type", "Content-Disposition", "Content-Length", "Content-Range", "ETag", "Accept-Ranges"} {
				h.Del(k)
			}
			s.fail(w, r, err)
			return
		}
		defer body.Close()
	}
	w.WriteHeader(status)
	if body == nil {
		return
	}
	if n, err := httpguard.Stream(w, body); err != nil && ctx.Err() == nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "stream file", slog.String("id", id),
			slog.Int64("sent", n), slog.Int64("length", length), slog.Any("err", err))
	}
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison) or is "*".
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// parseRange parses a single byte range ("bytes=a-b", "bytes=a-",
// "bytes=-n") against a size: the first and last byte. ok is false for a
// header to ignore (malformed, another unit, several ranges: the whole
// file is sent); satisfiable is false for a range outside the file.
func parseRange(h string, size int64) (first, last int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || !allDigits(s) {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if a == "" { // suffix: the last n bytes
		n, ok := num(b)
		if !ok {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	first, ok = num(a)
	if !ok {
		return 0, 0, false, false
	}
	last = size - 1
	if b != "" {
		if last, ok = num(b); !ok || last < first {
			return 0, 0, false, false
		}
	}
	if first >= size {
		return 0, 0, true, false
	}
	return first, min(last, size-1), true, true
}

// contentDisposition is an attachment header with the name in a safe
// ASCII fallback and in full as RFC 5987 UTF-8.
func contentDisposition(name string) string {
	var ascii strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' || r == '%' || r == ';':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(r)
		}
	}
	fallback := ascii.String()
	if fallback == "" {
		fallback = "file"
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback, rfc5987(name))
}

// rfc5987 percent-encodes everything but RFC 5987's attr-char.
func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
