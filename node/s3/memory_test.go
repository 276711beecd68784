package s3

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// TestLargeObjectsBoundedMemory streams a 256 MiB object with signed
// aws-chunked framing, a multipart upload of 4 parts of 64 MiB, and reads
// the object back, checking that the heap never grows by more than a
// small fraction of the object: nothing buffers a body.
func TestLargeObjectsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 768 MiB: not in -short")
	}
	const size = 256 << 20
	const bound = 32 << 20
	g := newGateway(t)
	client := g.httpClient()
	do := func(req *http.Request) *http.Response {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	req, _ := http.NewRequest(http.MethodPut, g.srv.URL+"/big", nil)
	signRequest(t, req, emptySHA256)
	do(req).Body.Close()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := heapPeak(stop)

	req, _ = http.NewRequest(http.MethodPut, g.srv.URL+"/big/obj", io.NopCloser(pattern(size, 3)))
	req.ContentLength = size
	req = signer.StreamingSignV4(req, testKey, testSecret, "", "us-east-1", size, time.Now().UTC(), sha256Hasher{sha256.New()})
	resp := do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodPost, g.srv.URL+"/big/multi?uploads", nil)
	signRequest(t, req, emptySHA256)
	resp = do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := between(string(body), "<UploadId>", "</UploadId>")
	var parts strings.Builder
	for n := 1; n <= 4; n++ {
		req, _ = http.NewRequest(http.MethodPut, fmt.Sprintf("%s/big/multi?partNumber=%d&uploadId=%s", g.srv.URL, n, id), io.NopCloser(pattern(64<<20, byte(n))))
		req.ContentLength = 64 << 20
		signRequest(t, req, unsignedPayload)
		resp = do(req)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("part %d: %d", n, resp.StatusCode)
		}
		fmt.Fprintf(&parts, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n, resp.Header.Get("ETag"))
	}
	xml := "<CompleteMultipartUpload>" + parts.String() + "</CompleteMultipartUpload>"
	req, _ = http.NewRequest(http.MethodPost, g.srv.URL+"/big/multi?uploadId="+id, strings.NewReader(xml))
	signRequest(t, req, sha256hex([]byte(xml)))
	resp = do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("complete: %d", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodGet, g.srv.URL+"/big/obj", nil)
	signRequest(t, req, emptySHA256)
	resp = do(req)
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != size {
		t.Fatalf("GET: %d bytes", n)
	}
	close(stop)
	grew := int64(<-peak) - int64(base.HeapInuse)
	t.Logf("heap grew by at most %d KiB while moving 768 MiB", grew>>10)
	if grew > bound {
		t.Fatalf("heap grew by %d MiB (bound %d MiB)", grew>>20, bound>>20)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s)
}
