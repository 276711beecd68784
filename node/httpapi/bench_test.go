package httpapi

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkJSONBase64Decode measures the streaming scanner and base64
// decoder over an 8 MiB file (MB/s of document).
func BenchmarkJSONBase64Decode(b *testing.B) {
	content := randomBytes(8<<20, 5)
	doc := []byte(`{"data":{"type":"file","attributes":{"name":"b.bin","data":"` + base64.StdEncoding.EncodeToString(content) + `"}}}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		s := newUploadDoc(bytes.NewReader(doc))
		if !s.head() {
			b.Fatal("no data")
		}
		n, err := io.Copy(io.Discard, s.content())
		if err != nil || n != int64(len(content)) {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkOctetUpload measures an application/octet-stream upload through
// the whole handler into a service that discards the bytes (MB/s).
func BenchmarkOctetUpload(b *testing.B) {
	s, svc := newTestServer(b, func(c *Config) { c.MaxUpload = 1 << 30 })
	svc.discard = true
	content := randomBytes(32<<20, 6)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/files?name=b.bin", bytes.NewReader(content))
		r.Header.Set("Content-Type", "application/octet-stream")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code != http.StatusPaymentRequired {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
