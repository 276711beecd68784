package s3

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzChunkReader feeds arbitrary bytes to the aws-chunked decoder,
// unsigned and signed: it must end in data, io.EOF or an S3 error, never
// panic, never yield more bytes than its chunk headers declared.
func FuzzChunkReader(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), false)
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), true)
	f.Add([]byte("5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n"), false)
	f.Add([]byte("ffffffffffffffff\r\n"), false)
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAA\n\r\nx-amz-trailer-signature:00\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, trailers bool) {
		for _, signed := range []bool{false, true} {
			var s *chunkSigner
			if signed {
				s = &chunkSigner{key: []byte("k"), amzDate: "20260101T000000Z", scope: "20260101/us-east-1/s3/aws4_request", prev: "00"}
			}
			c := newChunkReader(bytes.NewReader(in), s, trailers)
			n, err := io.Copy(io.Discard, c)
			if n > int64(len(in)) {
				t.Fatalf("decoded %d bytes out of %d", n, len(in))
			}
			if err != nil {
				if _, ok := err.(*apiError); !ok {
					t.Fatalf("error %T %v is not an S3 error", err, err)
				}
			}
		}
	})
}

// FuzzRequest sends arbitrary methods, paths, queries and XML bodies to
// the handler, signed, with a real Backend behind it: every answer must
// be a well-formed response, never a panic (bar the deliberate abort of a
// response already begun, which needs a failing stream).
func FuzzRequest(f *testing.F) {
	f.Add("POST", "/bkt", "delete", "<Delete><Object><Key>a</Key></Object></Delete>")
	f.Add("POST", "/bkt/k", "uploadId=upload-1", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>")
	f.Add("PUT", "/bkt", "", "<CreateBucketConfiguration><LocationConstraint>eu</LocationConstraint></CreateBucketConfiguration>")
	f.Add("GET", "/bkt", "list-type=2&delimiter=/&encoding-type=url&continuation-token=!!", "")
	f.Add("GET", "/bkt/k", "uploadId=x&max-parts=-1", "")
	f.Add("PUT", "/bkt/k", "partNumber=1&uploadId=upload-1", "data")
	f.Add("HEAD", "/", "", "")
	g := newFuzzGateway(f)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\x00\r\n\t") || strings.ContainsAny(query, " #\x00\r\n\t") {
			return
		}
		if len(method) == 0 || len(method) > 10 || strings.ContainsAny(method, " /\x00\r\n\t()<>@,;:\\\"[]?={}") {
			return
		}
		req, err := http.NewRequest(method, "http://gw"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		signRequest(t, req, sha256hex([]byte(body)))
		req.RequestURI = req.URL.RequestURI()
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Code >= 400 && method != http.MethodHead && w.Code != http.StatusNotModified {
			var e errorBody
			if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" {
				t.Fatalf("%d with body %q", w.Code, w.Body)
			}
		}
	})
}

func newFuzzGateway(f *testing.F) *Handler {
	mb := newMemBackend(f.TempDir())
	mb.addKey(testKey, testSecret, "alice")
	_ = mb.CreateBucket(f.Context(), "alice", "bkt")
	return quietHandler(f, mb)
}
