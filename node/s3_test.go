package node

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/billing"
)

// s3Gateway serves n's S3 storage with node/s3's handler and returns an
// SDK client for a new account credited with balance nanotokens.
func s3Gateway(t *testing.T, n *Node, name string, balance int64) (*awss3.Client, Caller) {
	t.Helper()
	return s3BenchGateway(t, n, name, balance, nil)
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func getBytes(t *testing.T, c *awss3.Client, bucket, key string, rng *string) ([]byte, *awss3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(t.Context(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key, Range: rng})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// The node's S3 storage through the real protocol layer and the AWS SDK:
// objects are the account's dds files, paid from its balance, stored; the
// ledger holds buckets and keys.
func TestS3Objects(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	c, by := s3Gateway(t, n, "alice", 1<<40)
	poor, _ := s3Gateway(t, n, "bob", 0)
	bucket := "photos"
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); s3Code(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("create again: %v", err)
	}
	if _, err := poor.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); s3Code(err) != "BucketAlreadyExists" {
		t.Fatalf("create another's: %v", err)
	}
	data := randomBytes(1, 3<<20+123)
	sum := md5.Sum(data)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("2026/a.bin"), Body: bytes.NewReader(data),
		ContentType: aws.String("image/png"), Metadata: map[string]string{"camera": "x100"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Trim(aws.ToString(put.ETag), `"`) != hex.EncodeToString(sum[:]) {
		t.Fatalf("etag %s", aws.ToString(put.ETag))
	}
	got, out := getBytes(t, c, bucket, "2026/a.bin", nil)
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "image/png" || out.Metadata["camera"] != "x100" {
		t.Fatalf("get: %d bytes equal %v, %s %v", len(got), bytes.Equal(got, data), aws.ToString(out.ContentType), out.Metadata)
	}
	part, _ := getBytes(t, c, bucket, "2026/a.bin", aws.String("bytes=1000-1999"))
	if !bytes.Equal(part, data[1000:2000]) {
		t.Fatal("range read differs")
	}
	// The object is the account's file, stored and paid from its balance.
	files, _, err := n.AccountFiles(ctx, by.Account, "", 10, "")
	if err != nil || len(files) != 1 || files[0].State != api.StateStored || files[0].Size != int64(len(data)) {
		t.Fatalf("the account's files: %+v %v", files, err)
	}
	first := files[0].ID
	if _, err := poor.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("2026/a.bin")}); s3Code(err) != "AccessDenied" {
		t.Fatalf("another account reads: %v", err)
	}
	if _, err := poor.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("poor")}); err != nil {
		t.Fatal(err)
	}
	if _, err := poor.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("poor"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x"))}); s3Code(err) != "PaymentRequired" {
		t.Fatalf("an empty balance: %v", err)
	}

	// Overwrite: the first file's lease ends.
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("2026/a.bin"), Body: bytes.NewReader([]byte("v2"))}); err != nil {
		t.Fatal(err)
	}
	if f, _ := n.ledgerFile(first); f.State != billing.StateDeleted {
		t.Fatalf("the overwritten object's file is %s", f.State)
	}
	if got, _ := getBytes(t, c, bucket, "2026/a.bin", nil); string(got) != "v2" {
		t.Fatalf("after overwrite: %q", got)
	}
	// An empty object (a "directory" marker, an empty file of a sync).
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("empty/"), Body: bytes.NewReader(nil)}); err != nil {
		t.Fatalf("put an empty object: %v", err)
	}
	if got, out := getBytes(t, c, bucket, "empty/", nil); len(got) != 0 || strings.Trim(aws.ToString(out.ETag), `"`) != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Fatalf("the empty object: %d bytes, etag %s", len(got), aws.ToString(out.ETag))
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("empty/")}); err != nil {
		t.Fatal(err)
	}
	// Copy, list with a delimiter, delete.
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: &bucket, Key: aws.String("top.bin"), CopySource: aws.String(bucket + "/2026/a.bin")}); err != nil {
		t.Fatal(err)
	}
	l, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Delimiter: aws.String("/")})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "top.bin" || len(l.CommonPrefixes) != 1 || aws.ToString(l.CommonPrefixes[0].Prefix) != "2026/" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); s3Code(err) != "BucketNotEmpty" {
		t.Fatalf("delete a full bucket: %v", err)
	}
	for _, k := range []string{"top.bin", "2026/a.bin"} {
		if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("top.bin")}); s3Code(err) != "NoSuchKey" {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if a, err := n.Account(ctx, by.Account); err != nil || a.Files != 0 {
		t.Fatalf("account after deleting everything: %+v %v", a, err)
	}
}

// A multipart upload: parts staged on the node, a retried part replacing
// the first, completed into one file (chunk-aligned parts put together
// without a copy, others cut anew); its ETag has the -N form.
func TestS3Multipart(t *testing.T) {
	n := startDev(t, t.TempDir(), SystemClock)
	ctx := t.Context()
	c, _ := s3Gateway(t, n, "alice", 1<<40)
	bucket := "big"
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"aligned", []int{5 << 20, 5 << 20, 123457}},
		{"unaligned", []int{5<<20 + 7, 5<<20 + 1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name + ".bin"
			cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			var whole []byte
			var done []types.CompletedPart
			for i, size := range tc.sizes {
				num := aws.Int32(int32(i + 1))
				b := randomBytes(uint64(100+i), size)
				if i == 0 { // a first try of part 1, replaced
					if _, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: num,
						Body: bytes.NewReader(randomBytes(99, size))}); err != nil {
						t.Fatal(err)
					}
				}
				up, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: num, Body: bytes.NewReader(b)})
				if err != nil {
					t.Fatal(err)
				}
				whole = append(whole, b...)
				done = append(done, types.CompletedPart{ETag: up.ETag, PartNumber: num})
			}
			comp, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(strings.Trim(aws.ToString(comp.ETag), `"`), fmt.Sprintf("-%d", len(tc.sizes))) {
				t.Fatalf("etag %s", aws.ToString(comp.ETag))
			}
			got, _ := getBytes(t, c, bucket, key, nil)
			if !bytes.Equal(got, whole) {
				t.Fatalf("read back %d bytes, equal %v", len(got), bytes.Equal(got, whole))
			}
			if _, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId}); s3Code(err) != "NoSuchUpload" {
				t.Fatalf("the completed upload: %v", err)
			}
		})
	}
	// An aborted upload lets its parts go.
	key := "aborted"
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randomBytes(7, 1<<20))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId}); err != nil {
		t.Fatal(err)
	}
	if pins, _ := n.store.Pins(ctx, partPrefix); len(pins) != 0 {
		t.Fatalf("pins left after abort and completes: %v", pins)
	}
}
