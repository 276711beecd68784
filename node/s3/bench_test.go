package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// discardBackend stores nothing and serves zeros: what is left to measure
// is the protocol layer's own work (SigV4, chunk decoding, MD5, checks).
type discardBackend struct {
	*memBackend
	size int64
}

func (d discardBackend) PutObject(_ context.Context, _, _, key string, in ObjectInput) (Object, error) {
	n, err := io.Copy(io.Discard, in.Body)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: n, ETag: in.ETag()}, nil
}

func (d discardBackend) HeadObject(_ context.Context, _, _, key string) (Object, error) {
	return Object{Key: key, Size: d.size, ETag: "e", LastModified: time.Now()}, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func (d discardBackend) GetObject(_ context.Context, _, _, key string, off, length int64) (Object, io.ReadCloser, error) {
	if length < 0 {
		length = d.size - off
	}
	return Object{Key: key, Size: d.size, ETag: "e", LastModified: time.Now()}, io.NopCloser(io.LimitReader(zeros{}, length)), nil
}

func benchHandler(b *testing.B, size int64) *Handler {
	mb := newMemBackend(b.TempDir())
	mb.addKey(testKey, testSecret, "alice")
	return quietHandler(b, discardBackend{mb, size})
}

// quietHandler is a Handler over backend without rate limit or logs.
func quietHandler(tb testing.TB, backend Backend) *Handler {
	cfg := DefaultConfig()
	cfg.Backend = backend
	cfg.RateLimit = 0
	cfg.Logger = slog.New(slog.DiscardHandler)
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

const benchSize = 64 << 20

// signRequest signs req with aws-sdk-go-v2's signer.
func signRequest(tb testing.TB, req *http.Request, payload string) {
	tb.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payload)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPutObject: 64 MiB bodies through ServeHTTP, per payload mode.
// On 2 cores (AMD EPYC, shared) all three modes ran within 2% of each
// other, at 520-745 MB/s depending on the run: MD5 bounds them, as the SHA-256 of a signed payload runs on its own goroutine
// beside it and chunk signatures cost one HMAC per 64 KiB chunk.
func BenchmarkPutObject(b *testing.B) {
	data := patternBytes(benchSize, 1)
	sum := sha256.Sum256(data)
	signedHash := hex.EncodeToString(sum[:])
	// One aws-chunked body signed by minio-go, replayed for each request.
	proto, _ := http.NewRequest(http.MethodPut, "http://gw/bkt/obj", bytes.NewReader(data))
	proto = signer.StreamingSignV4(proto, testKey, testSecret, "", "us-east-1", benchSize, time.Now().UTC(), sha256Hasher{sha256.New()})
	chunked, _ := io.ReadAll(proto.Body)

	for _, mode := range []string{"unsigned", "signed", "aws-chunked-signed"} {
		b.Run(mode, func(b *testing.B) {
			h := benchHandler(b, benchSize)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var req *http.Request
				switch mode {
				case "unsigned":
					req = httptest.NewRequest(http.MethodPut, "http://gw/bkt/obj", bytes.NewReader(data))
					signRequest(b, req, unsignedPayload)
				case "signed":
					req = httptest.NewRequest(http.MethodPut, "http://gw/bkt/obj", bytes.NewReader(data))
					signRequest(b, req, signedHash)
				default:
					req = httptest.NewRequest(http.MethodPut, "http://gw/bkt/obj", bytes.NewReader(chunked))
					req.Header = proto.Header.Clone()
					req.ContentLength = int64(len(chunked))
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkGetObject: 64 MiB objects out of ServeHTTP.
func BenchmarkGetObject(b *testing.B) {
	h := benchHandler(b, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, "http://gw/bkt/obj", nil)
		signRequest(b, req, emptySHA256)
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK || w.n != benchSize {
			b.Fatalf("%d, %d bytes", w.code, w.n)
		}
	}
}

// discardWriter is a ResponseWriter that counts and drops the body.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += int64(len(p))
	return len(p), nil
}

// heapPeak samples HeapInuse until stop is closed and returns the peak.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}
