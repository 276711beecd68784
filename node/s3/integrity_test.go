package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// sha256Hasher adapts crypto/sha256 to minio-go's hasher interface.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// corrupt flips one byte of a stream at offset at.
type corrupt struct {
	r   io.ReadCloser
	at  int64
	off int64
}

func (c *corrupt) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.at >= c.off && c.at < c.off+int64(n) {
		p[c.at-c.off] ^= 0x20
	}
	c.off += int64(n)
	return n, err
}

func (c *corrupt) Close() error { return c.r.Close() }

// TestFailedChecksStoreNothing sends bodies that fail each check and
// verifies the Backend kept none of them.
func TestFailedChecksStoreNothing(t *testing.T) {
	g := newGateway(t)
	ctx := t.Context()
	c := g.alice()
	must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}))
	url := g.srv.URL + "/bkt/victim"
	body := patternBytes(200_000, 7)

	nothingStored := func(t *testing.T) {
		t.Helper()
		if n := g.backend.files(); n != 0 {
			t.Fatalf("%d files stored", n)
		}
		if _, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim")}); errorCode(err) != "NotFound" {
			t.Fatalf("HeadObject after a failed PUT: %v", err)
		}
	}

	t.Run("Content-MD5", func(t *testing.T) {
		wrong := md5.Sum([]byte("other"))
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim"),
			Body: bytes.NewReader(body), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
		wantCode(t, err, "BadDigest")
		nothingStored(t)
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim"),
			Body: bytes.NewReader(body), ContentMD5: aws.String("not base64")})
		wantCode(t, err, "InvalidDigest")
	})
	t.Run("x-amz-checksum-crc32 header", func(t *testing.T) {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim"),
			Body: bytes.NewReader(body), ChecksumCRC32: aws.String("AAAAAA==")})
		wantCode(t, err, "BadDigest")
		nothingStored(t)
	})
	t.Run("payload hash", func(t *testing.T) {
		req := newSignedRequest(t, g, http.MethodPut, url, body, time.Now(), testSecret)
		req.Body = &corrupt{r: req.Body, at: 100_000}
		wantHTTPCode(t, req, http.StatusBadRequest, "XAmzContentSHA256Mismatch")
		nothingStored(t)
	})
	t.Run("chunk signature", func(t *testing.T) {
		for _, at := range []int64{10, 70_000, 199_999 + 300} { // first chunk, a later one, the last chunk's header area
			req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
			req = signer.StreamingSignV4(req, testKey, testSecret, "", "us-east-1", int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
			req.Body = &corrupt{r: req.Body, at: at}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				t.Fatalf("corrupted at %d: %d", at, resp.StatusCode)
			}
			nothingStored(t)
		}
		// Uncorrupted, the same signer's body is stored.
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
		req = signer.StreamingSignV4(req, testKey, testSecret, "", "us-east-1", int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != quote(md5hex(body)) {
			t.Fatalf("signed chunks: %d %s", resp.StatusCode, resp.Header.Get("ETag"))
		}
		must[*awss3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim")}))
	})
	t.Run("trailer checksum", func(t *testing.T) {
		sum := crc32.ChecksumIEEE([]byte("hello"))
		right := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
		for _, tc := range []struct {
			trailer string
			status  int
		}{{"AAAAAA==", http.StatusBadRequest}, {right, http.StatusOK}} {
			framed := "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + tc.trailer + "\r\n\r\n"
			req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(framed))
			req.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrailer)
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "5")
			req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, streamingUnsignedTrailer, "s3", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("trailer %s: %d", tc.trailer, resp.StatusCode)
			}
			if tc.status != http.StatusOK {
				nothingStored(t)
			} else if resp.Header.Get("X-Amz-Checksum-Crc32") != right {
				t.Fatalf("checksum echo %q", resp.Header.Get("X-Amz-Checksum-Crc32"))
			}
		}
		must[*awss3.DeleteObjectOutput](t)(c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("victim")}))
	})
	t.Run("part", func(t *testing.T) {
		up := must[*awss3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("victim")}))
		wrong := md5.Sum([]byte("other"))
		_, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("victim"), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(body), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(wrong[:]))})
		wantCode(t, err, "BadDigest")
		lp := must[*awss3.ListPartsOutput](t)(c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("victim"), UploadId: up.UploadId}))
		if len(lp.Parts) != 0 {
			t.Fatalf("%d parts stored", len(lp.Parts))
		}
		nothingStored(t)
	})
	t.Run("checksum algorithms", func(t *testing.T) {
		g := newTLSGateway(t)
		c := g.alice()
		must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bkt")}))
		for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
			types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
			must[*awss3.PutObjectOutput](t)(c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(string(alg)),
				Body: bytes.NewReader(body), ChecksumAlgorithm: alg}))
		}
	})
}
