package testnet

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/internal/s3clitest"
)

// s3Net is a process testnet whose nodes serve S3 gateways, with the HTTP
// transport every S3 client of the test shares (its idle connections are
// closed at the end, for the package's leak check).
type s3Net struct {
	t      *testing.T
	nw     *ProcessNetwork
	ctx    context.Context
	stderr *lockedWriter
	tr     *http.Transport
}

// startS3Net starts a testnet of n daemon processes (skipped with -short),
// stopped when t ends; ctx bounds the test to limit.
func startS3Net(t *testing.T, n int, limit time.Duration) *s3Net {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the dds binary; skipped with -short")
	}
	bin := ddsBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	t.Cleanup(cancel)
	stderr := &lockedWriter{w: &bytes.Buffer{}}
	nw, err := StartProcesses(ctx, ProcessOptions{Binary: bin, Nodes: n, Dir: t.TempDir(), Stderr: stderr,
		ExtraArgs: []string{"--log-level", "error"}})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { _ = nw.Stop() })
	for i, nd := range nw.Nodes {
		if !strings.HasPrefix(nd.S3, "http://127.0.0.1:") {
			t.Fatalf("node%d serves no S3 gateway: %q", i, nd.S3)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &s3Net{t: t, nw: nw, ctx: ctx, stderr: stderr, tr: tr}
}

// s3Account is an account with an S3 access key on every node (keys are
// each node's own): keys[i] works at node i's gateway only.
type s3Account struct {
	id, apiKey string
	keys       []api.S3Key
}

// account opens an account at node0, credits it with credit tokens ("":
// none) and makes it an access key at every node.
func (sn *s3Net) account(name, credit string) s3Account {
	t := sn.t
	t.Helper()
	n0 := sn.nw.Nodes[0]
	c, err := client.New(n0.HTTP, client.WithBillingToken(n0.BillingToken))
	if err != nil {
		t.Fatal(err)
	}
	acc, err := c.OpenAccount(sn.ctx, name, "")
	if err != nil {
		t.Fatalf("open account %s: %v", name, err)
	}
	if credit != "" {
		amount, err := api.ParseTokens(credit)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Credit(sn.ctx, acc.ID, amount, "", nil); err != nil {
			t.Fatalf("credit %s: %v", name, err)
		}
	}
	a := s3Account{id: acc.ID, apiKey: acc.APIKey}
	for i, nd := range sn.nw.Nodes {
		kc, err := client.New(nd.HTTP, client.WithAPIKey(acc.APIKey))
		if err != nil {
			t.Fatal(err)
		}
		var k api.S3Key
		// The account was made at node0: another node may not have it
		// in its ledger for a moment.
		for try := 0; ; try++ {
			if k, err = kc.CreateS3Key(sn.ctx); err == nil || try == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("s3 key of %s at node%d: %v", name, i, err)
		}
		if k.Endpoint != nd.S3 {
			t.Fatalf("node%d's key names endpoint %s, its gateway is %s", i, k.Endpoint, nd.S3)
		}
		a.keys = append(a.keys, k)
	}
	return a
}

// sdk is an AWS SDK client of a at node i's gateway.
func (sn *s3Net) sdk(a s3Account, i int) *awss3.Client {
	return sn.sdkWith(sn.nw.Nodes[i].S3, a.keys[i].AccessKeyID, a.keys[i].SecretAccessKey)
}

func (sn *s3Net) sdkWith(endpoint, id, secret string) *awss3.Client {
	return awss3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient: &http.Client{Transport: sn.tr}},
		func(o *awss3.Options) {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RetryMaxAttempts = 1
		})
}

// minio is a minio-go client of a at node i's gateway.
func (sn *s3Net) minio(a s3Account, i int) *minio.Client {
	u, err := url.Parse(sn.nw.Nodes[i].S3)
	if err != nil {
		sn.t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        miniocreds.NewStaticV4(a.keys[i].AccessKeyID, a.keys[i].SecretAccessKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		Transport:    sn.tr,
		MaxRetries:   1,
	})
	if err != nil {
		sn.t.Fatal(err)
	}
	return c
}

// s3Code is the S3 error code of an SDK error ("" for none).
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

// s3Status is the HTTP status of an SDK error (0 for none).
func s3Status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func unquote(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

func getObject(t *testing.T, ctx context.Context, c *awss3.Client, bucket, key string, rng string) ([]byte, *awss3.GetObjectOutput) {
	t.Helper()
	in := &awss3.GetObjectInput{Bucket: &bucket, Key: &key}
	if rng != "" {
		in.Range = &rng
	}
	out, err := c.GetObject(ctx, in)
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

func putObject(t *testing.T, ctx context.Context, c *awss3.Client, bucket, key string, data []byte) string {
	t.Helper()
	out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return unquote(out.ETag)
}

func wantCode(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	if s3Code(err) != code || s3Status(err) != status {
		t.Fatalf("%s: %v (code %q, status %d), want %s %d", what, err, s3Code(err), s3Status(err), code, status)
	}
}

// The S3 gateways of a testnet of 4 dds processes, through the AWS SDK and
// minio-go: every supported operation, every error code, presigned URLs,
// buckets and objects network-wide (made through one node's gateway, seen
// through another's), and accounts that never see each other's.
func TestS3OnProcessTestnet(t *testing.T) {
	sn := startS3Net(t, 4, 6*time.Minute)
	alice := sn.account("alice", "1000")
	bob := sn.account("bob", "1000")
	carol := sn.account("carol", "") // an empty balance
	t.Run("sdk", func(t *testing.T) { testS3SDK(t, sn, alice) })
	t.Run("minio", func(t *testing.T) { testS3Minio(t, sn, alice) })
	t.Run("errors", func(t *testing.T) { testS3Errors(t, sn, alice, bob, carol) })
	t.Run("presigned", func(t *testing.T) { testS3Presigned(t, sn, alice) })
	t.Run("accounts", func(t *testing.T) { testS3Accounts(t, sn, alice, bob) })
}

func testS3SDK(t *testing.T, sn *s3Net, a s3Account) {
	ctx := sn.ctx
	c := make([]*awss3.Client, len(sn.nw.Nodes))
	for i := range c {
		c[i] = sn.sdk(a, i)
	}
	bucket := "sdk-bucket"
	if _, err := c[0].CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	// Made at node0, listed at node2, there at node3.
	lb, err := c[2].ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != bucket {
		t.Fatalf("ListBuckets at node2: %v %+v", err, lb)
	}
	if _, err := c[3].HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("HeadBucket at node3: %v", err)
	}
	wantCode(t, "CreateBucket again at node1", func() error {
		_, err := c[1].CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket})
		return err
	}(), "BucketAlreadyOwnedByYou", 409)

	// Put at node1, read at node3, with its metadata and ETag.
	data := s3clitest.Pattern(700_001, 1)
	put, err := c[1].PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), Metadata: map[string]string{"camera": "x100", "lens": "23mm"}})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(put.ETag) != s3clitest.MD5Hex(data) {
		t.Fatalf("PutObject ETag %s", aws.ToString(put.ETag))
	}
	got, out := getObject(t, ctx, c[3], bucket, "dir/a.bin", "")
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "application/x-test" || out.Metadata["camera"] != "x100" ||
		out.Metadata["lens"] != "23mm" || unquote(out.ETag) != s3clitest.MD5Hex(data) {
		t.Fatalf("GetObject at node3: %d bytes, %+v", len(got), out)
	}
	got, out = getObject(t, ctx, c[2], bucket, "dir/a.bin", "bytes=1000-1999")
	if !bytes.Equal(got, data[1000:2000]) || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
		t.Fatalf("range at node2: %d bytes, %s", len(got), aws.ToString(out.ContentRange))
	}
	got, _ = getObject(t, ctx, c[0], bucket, "dir/a.bin", "bytes=-10")
	if !bytes.Equal(got, data[len(data)-10:]) {
		t.Fatalf("suffix range: %x", got)
	}
	head, err := c[0].HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) || unquote(head.ETag) != s3clitest.MD5Hex(data) || head.Metadata["camera"] != "x100" {
		t.Fatalf("HeadObject at node0: %v %+v", err, head)
	}
	// Conditional GETs.
	etag := aws.ToString(head.ETag)
	_, err = c[2].GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin"), IfNoneMatch: &etag})
	if s3Status(err) != 304 {
		t.Fatalf("If-None-Match its ETag: %v (status %d), want 304", err, s3Status(err))
	}
	_, err = c[2].GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin"), IfMatch: aws.String(`"0123"`)})
	wantCode(t, "If-Match another ETag", err, "PreconditionFailed", 412)
	future := time.Now().Add(time.Hour)
	_, err = c[3].GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin"), IfModifiedSince: &future})
	if s3Status(err) != 304 {
		t.Fatalf("If-Modified-Since later: %v, want 304", err)
	}
	if got, _ := getObject(t, ctx, c[1], bucket, "dir/a.bin", ""); !bytes.Equal(got, data) {
		t.Fatal("plain GET after the conditional ones")
	}
	o, err := c[1].GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin"), IfMatch: &etag})
	if err != nil {
		t.Fatalf("If-Match its ETag: %v", err)
	}
	o.Body.Close()

	// CopyObject at node2, read at node0: metadata kept, then replaced.
	if _, err := c[2].CopyObject(ctx, &awss3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy/a.bin"), CopySource: aws.String(bucket + "/dir/a.bin")}); err != nil {
		t.Fatal(err)
	}
	got, out = getObject(t, ctx, c[0], bucket, "copy/a.bin", "")
	if !bytes.Equal(got, data) || out.Metadata["camera"] != "x100" || unquote(out.ETag) != s3clitest.MD5Hex(data) {
		t.Fatalf("the copy: %d bytes, %+v", len(got), out.Metadata)
	}
	if _, err := c[2].CopyObject(ctx, &awss3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy/b.bin"), CopySource: aws.String(bucket + "/dir/a.bin"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if h, err := c[3].HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: aws.String("copy/b.bin")}); err != nil || h.Metadata["k"] != "v" || h.Metadata["camera"] != "" {
		t.Fatalf("copy with new metadata: %v %+v", err, h)
	}

	// Listings, from nodes other than the one that put the keys.
	keys := []string{"list/a/1", "list/a/2", "list/b/1", "list/c", "list/d"}
	for i, k := range keys {
		putObject(t, ctx, c[i%4], bucket, k, []byte(k))
	}
	l, err := c[3].ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("list/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var names, prefixes []string
	for _, o := range l.Contents {
		names = append(names, aws.ToString(o.Key))
	}
	for _, p := range l.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if fmt.Sprint(names) != "[list/c list/d]" || fmt.Sprint(prefixes) != "[list/a/ list/b/]" {
		t.Fatalf("delimiter listing: %v %v", names, prefixes)
	}
	names = nil
	pages := 0
	for p := awss3.NewListObjectsV2Paginator(c[2], &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("list/"), MaxKeys: aws.Int32(2)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.Contents {
			names = append(names, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(names, keys) || pages != 3 {
		t.Fatalf("continuation: %d pages %v", pages, names)
	}
	l, err = c[1].ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("list/"), StartAfter: aws.String("list/b/1")})
	if err != nil || len(l.Contents) != 2 || aws.ToString(l.Contents[0].Key) != "list/c" || aws.ToString(l.Contents[1].Key) != "list/d" {
		t.Fatalf("start-after: %v %+v", err, l)
	}
	v1, err := c[0].ListObjects(ctx, &awss3.ListObjectsInput{Bucket: &bucket, Prefix: aws.String("list/"), MaxKeys: aws.Int32(3)})
	if err != nil || len(v1.Contents) != 3 || !aws.ToBool(v1.IsTruncated) {
		t.Fatalf("ListObjects v1: %v %+v", err, v1)
	}
	v1, err = c[0].ListObjects(ctx, &awss3.ListObjectsInput{Bucket: &bucket, Prefix: aws.String("list/"), Marker: v1.Contents[2].Key})
	if err != nil || len(v1.Contents) != 2 || aws.ToString(v1.Contents[0].Key) != "list/c" || aws.ToBool(v1.IsTruncated) {
		t.Fatalf("ListObjects v1 from a marker: %v %+v", err, v1)
	}

	// DeleteObjects at node1, gone at node3; DeleteObject of an absent key is fine.
	var ids []types.ObjectIdentifier
	for _, k := range keys {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	del, err := c[1].DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids}})
	if err != nil || len(del.Deleted) != len(keys) || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects: %v %+v", err, del)
	}
	if l, err := c[3].ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("list/")}); err != nil || len(l.Contents) != 0 {
		t.Fatalf("after DeleteObjects: %v %+v", err, l)
	}
	if _, err := c[0].DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("never/was")}); err != nil {
		t.Fatalf("delete an absent key: %v", err)
	}

	// Multipart at node2 (an upload in progress is its gateway's), read at node1.
	mk := aws.String("multi/obj")
	cr, err := c[2].CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: mk,
		ContentType: aws.String("video/x-test"), Metadata: map[string]string{"take": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2old, p2, p3 := s3clitest.Pattern(5<<20, 2), s3clitest.Pattern(5<<20, 3), s3clitest.Pattern(5<<20+17, 4), s3clitest.Pattern(1000, 5)
	uploadPart := func(n int32, b []byte) string {
		t.Helper()
		up, err := c[2].UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: mk, UploadId: cr.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(b)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if unquote(up.ETag) != s3clitest.MD5Hex(b) {
			t.Fatalf("part %d's ETag %s", n, aws.ToString(up.ETag))
		}
		return aws.ToString(up.ETag)
	}
	e3 := uploadPart(3, p3)
	e1 := uploadPart(1, p1)
	uploadPart(2, p2old)
	e2 := uploadPart(2, p2) // retried: the later one counts
	lp, err := c[2].ListParts(ctx, &awss3.ListPartsInput{Bucket: &bucket, Key: mk, UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 3 || aws.ToString(lp.Parts[1].ETag) != e2 || aws.ToInt64(lp.Parts[1].Size) != int64(len(p2)) {
		t.Fatalf("ListParts: %v %+v", err, lp)
	}
	lp, err = c[2].ListParts(ctx, &awss3.ListPartsInput{Bucket: &bucket, Key: mk, UploadId: cr.UploadId, MaxParts: aws.Int32(1), PartNumberMarker: aws.String("1")})
	if err != nil || len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 2 || !aws.ToBool(lp.IsTruncated) {
		t.Fatalf("ListParts after part 1: %v %+v", err, lp)
	}
	other, err := c[2].CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("multi/aborted")})
	if err != nil {
		t.Fatal(err)
	}
	mu, err := c[2].ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil || len(mu.Uploads) != 2 || aws.ToString(mu.Uploads[0].Key) != "multi/aborted" || aws.ToString(mu.Uploads[1].UploadId) != aws.ToString(cr.UploadId) {
		t.Fatalf("ListMultipartUploads: %v %+v", err, mu)
	}
	if _, err := c[2].AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("multi/aborted"), UploadId: other.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c[2].UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: aws.String("multi/aborted"), UploadId: other.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(p3)})
	wantCode(t, "a part of an aborted upload", err, "NoSuchUpload", 404)
	comp, err := c[2].CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: mk, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: &e1}, {PartNumber: aws.Int32(2), ETag: &e2}, {PartNumber: aws.Int32(3), ETag: &e3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(comp.ETag) != s3clitest.MultipartETag(p1, p2, p3) {
		t.Fatalf("multipart ETag %s, want %s", aws.ToString(comp.ETag), s3clitest.MultipartETag(p1, p2, p3))
	}
	whole := slices.Concat(p1, p2, p3)
	got, out = getObject(t, ctx, c[1], bucket, "multi/obj", "")
	if !bytes.Equal(got, whole) || unquote(out.ETag) != s3clitest.MultipartETag(p1, p2, p3) || out.Metadata["take"] != "2" || aws.ToString(out.ContentType) != "video/x-test" {
		t.Fatalf("the multipart object at node1: %d bytes, %s, %+v", len(got), aws.ToString(out.ETag), out.Metadata)
	}
	if got, _ := getObject(t, ctx, c[3], bucket, "multi/obj", fmt.Sprintf("bytes=%d-%d", 5<<20-5, 5<<20+4)); !bytes.Equal(got, whole[5<<20-5:5<<20+5]) {
		t.Fatal("a range across parts 1 and 2")
	}
	if mu, err := c[2].ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bucket}); err != nil || len(mu.Uploads) != 0 {
		t.Fatalf("uploads after complete and abort: %v %+v", err, mu)
	}

	// A bucket with objects is not deleted; empty, it is, everywhere.
	_, err = c[3].DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket})
	wantCode(t, "DeleteBucket with objects", err, "BucketNotEmpty", 409)
	for _, k := range []string{"dir/a.bin", "copy/a.bin", "copy/b.bin", "multi/obj"} {
		if _, err := c[0].DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c[3].GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("dir/a.bin")})
	wantCode(t, "GetObject of a deleted key", err, "NoSuchKey", 404)
	if _, err := c[3].DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	_, err = c[1].HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &bucket})
	if s3Status(err) != 404 {
		t.Fatalf("HeadBucket of a deleted bucket at node1: %v", err)
	}
	if lb, err := c[2].ListBuckets(ctx, &awss3.ListBucketsInput{}); err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("ListBuckets after delete: %v %+v", err, lb)
	}
}

func testS3Minio(t *testing.T, sn *s3Net, a s3Account) {
	ctx := sn.ctx
	m0, m1, m2, m3 := sn.minio(a, 0), sn.minio(a, 1), sn.minio(a, 2), sn.minio(a, 3)
	bucket := "minio-bucket"
	if err := m0.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := m2.BucketExists(ctx, bucket); !ok || err != nil {
		t.Fatalf("BucketExists at node2: %v %v", ok, err)
	}
	bs, err := m3.ListBuckets(ctx)
	if err != nil || !slices.ContainsFunc(bs, func(b minio.BucketInfo) bool { return b.Name == bucket }) {
		t.Fatalf("ListBuckets at node3: %v %+v", err, bs)
	}
	// minio-go signs every chunk over plain HTTP; 12 MiB goes in parts of 5 MiB.
	small, big := s3clitest.Pattern(300_000, 6), s3clitest.Pattern(12<<20, 7)
	info, err := m1.PutObject(ctx, bucket, "dir/small", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{"color": "blue"}})
	if err != nil || info.ETag != s3clitest.MD5Hex(small) {
		t.Fatalf("PutObject: %v %+v", err, info)
	}
	info, err = m1.PutObject(ctx, bucket, "dir/big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil || info.ETag != s3clitest.MultipartETag(big[:5<<20], big[5<<20:10<<20], big[10<<20:]) {
		t.Fatalf("multipart PutObject: %v %+v", err, info)
	}
	for name, want := range map[string][]byte{"dir/small": small, "dir/big": big} {
		obj, err := m3.GetObject(ctx, bucket, name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GetObject %s at node3: %v, %d bytes", name, err, len(got))
		}
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(100, 199); err != nil {
		t.Fatal(err)
	}
	obj, err := m2.GetObject(ctx, bucket, "dir/big", opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, big[100:200]) {
		t.Fatalf("range: %v %d bytes", err, len(got))
	}
	st, err := m0.StatObject(ctx, bucket, "dir/small", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(small)) || st.UserMetadata["Color"] != "blue" || st.ContentType != "text/plain" {
		t.Fatalf("StatObject at node0: %v %+v", err, st)
	}
	if _, err := m2.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "copy/small"}, minio.CopySrcOptions{Bucket: bucket, Object: "dir/small"}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for o := range m3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if fmt.Sprint(keys) != "[copy/small dir/big dir/small]" {
		t.Fatalf("ListObjects: %v", keys)
	}
	keys = nil
	for o := range m1.ListObjects(ctx, bucket, minio.ListObjectsOptions{UseV1: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if fmt.Sprint(keys) != "[copy/ dir/]" {
		t.Fatalf("ListObjects v1 with the delimiter: %v", keys)
	}
	objs := make(chan minio.ObjectInfo, 3)
	for _, k := range []string{"copy/small", "dir/big", "dir/small"} {
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	for e := range m0.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		t.Fatalf("RemoveObjects: %v", e.Err)
	}
	_, err = m2.StatObject(ctx, bucket, "dir/small", minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode != 404 {
		t.Fatalf("StatObject of a removed object: %v", err)
	}
	if err := m3.RemoveBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if ok, err := m1.BucketExists(ctx, bucket); ok || err != nil {
		t.Fatalf("BucketExists after RemoveBucket: %v %v", ok, err)
	}
}

var xmlCode = regexp.MustCompile(`<Code>([^<]*)</Code>`)

// signedDo sends a request signed by id/secret at when (the time the
// signature claims) and returns its status and S3 error code.
func (sn *s3Net) signedDo(method, u, id, secret string, when time.Time) (int, string) {
	sn.t.Helper()
	req, err := http.NewRequestWithContext(sn.ctx, method, u, nil)
	if err != nil {
		sn.t.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := v4.NewSigner().SignHTTP(sn.ctx, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, req, emptySHA256, "s3", "us-east-1", when); err != nil {
		sn.t.Fatal(err)
	}
	return sn.do(req)
}

func (sn *s3Net) do(req *http.Request) (int, string) {
	sn.t.Helper()
	resp, err := (&http.Client{Transport: sn.tr}).Do(req)
	if err != nil {
		sn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if m := xmlCode.FindSubmatch(b); m != nil {
		code = string(m[1])
	}
	return resp.StatusCode, code
}

func testS3Errors(t *testing.T, sn *s3Net, alice, bob, carol s3Account) {
	ctx := sn.ctx
	a0, a1, a2, a3 := sn.sdk(alice, 0), sn.sdk(alice, 1), sn.sdk(alice, 2), sn.sdk(alice, 3)
	b1 := sn.sdk(bob, 1)
	bucket := "err-bucket"
	if _, err := a0.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	small := []byte("a small object")
	putObject(t, ctx, a1, bucket, "obj", small)

	_, err := a2.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("absent")})
	wantCode(t, "GetObject of an absent key", err, "NoSuchKey", 404)
	_, err = a3.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket")})
	wantCode(t, "ListObjectsV2 of an absent bucket", err, "NoSuchBucket", 404)
	_, err = a3.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k"), Body: bytes.NewReader(small)})
	wantCode(t, "PutObject into an absent bucket", err, "NoSuchBucket", 404)
	_, err = a2.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket})
	wantCode(t, "DeleteBucket with an object", err, "BucketNotEmpty", 409)
	_, err = b1.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("obj")})
	wantCode(t, "bob's GetObject in alice's bucket", err, "AccessDenied", 403)
	_, err = b1.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket})
	wantCode(t, "bob's CreateBucket of alice's name", err, "BucketAlreadyExists", 409)

	// Credentials: a wrong secret, an unknown key, and a key of another
	// node (keys are each node's own).
	k := alice.keys[1]
	_, err = sn.sdkWith(sn.nw.Nodes[1].S3, k.AccessKeyID, "wrong"+k.SecretAccessKey).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, "a wrong secret", err, "SignatureDoesNotMatch", 403)
	_, err = sn.sdkWith(sn.nw.Nodes[1].S3, "AKIDNOSUCHKEY0000000", k.SecretAccessKey).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, "an unknown key", err, "InvalidAccessKeyId", 403)
	_, err = sn.sdkWith(sn.nw.Nodes[2].S3, k.AccessKeyID, k.SecretAccessKey).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantCode(t, "node1's key at node2", err, "InvalidAccessKeyId", 403)
	objURL := sn.nw.Nodes[1].S3 + "/" + bucket + "/obj"
	if st, code := sn.signedDo(http.MethodGet, objURL, k.AccessKeyID, k.SecretAccessKey, time.Now()); st != 200 {
		t.Fatalf("a request signed now: %d %s", st, code)
	}
	if st, code := sn.signedDo(http.MethodGet, objURL, k.AccessKeyID, k.SecretAccessKey, time.Now().Add(-time.Hour)); st != 403 || code != "RequestTimeTooSkewed" {
		t.Fatalf("a request signed an hour ago: %d %s", st, code)
	}
	// A presigned URL whose time is up.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, objURL+"?X-Amz-Expires=60", nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, req,
		"UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now().Add(-2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := http.NewRequestWithContext(ctx, http.MethodGet, signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, code := sn.do(expired); st != 403 || code != "AccessDenied" {
		t.Fatalf("an expired presigned URL: %d %s", st, code)
	}

	_, err = a0.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantCode(t, "CreateBucket Bad_Name", err, "InvalidBucketName", 400)
	_, err = a0.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String(strings.Repeat("k", 1025)), Body: bytes.NewReader(small)})
	wantCode(t, "a key of 1025 bytes", err, "KeyTooLongError", 400)
	_, err = a3.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("obj"), Range: aws.String("bytes=1000-2000")})
	wantCode(t, "a range past the end", err, "InvalidRange", 416)

	// Multipart: parts out of order, a part too small.
	cr, err := a2.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	var etags []string
	for n, b := range [][]byte{s3clitest.Pattern(1000, 8), s3clitest.Pattern(1000, 9)} {
		up, err := a2.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(n + 1)), Body: bytes.NewReader(b)})
		if err != nil {
			t.Fatal(err)
		}
		etags = append(etags, aws.ToString(up.ETag))
	}
	complete := func(order ...int) error {
		var ps []types.CompletedPart
		for _, n := range order {
			ps = append(ps, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: &etags[n-1]})
		}
		_, err := a2.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: cr.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
		return err
	}
	wantCode(t, "parts 2, 1", complete(2, 1), "InvalidPartOrder", 400)
	wantCode(t, "a first part of 1000 bytes", complete(1, 2), "EntityTooSmall", 400)
	_, err = a0.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: &etags[0]}}}})
	wantCode(t, "node2's upload completed at node0", err, "NoSuchUpload", 404)
	if _, err := a2.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: cr.UploadId}); err != nil {
		t.Fatal(err)
	}

	// An empty balance pays for nothing: carol's bucket is hers, but an
	// object in it is 403 PaymentRequired, at every node.
	cb := "carol-bucket"
	if _, err := sn.sdk(carol, 3).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &cb}); err != nil {
		t.Fatal(err)
	}
	for i := range sn.nw.Nodes {
		_, err = sn.sdk(carol, i).PutObject(ctx, &awss3.PutObjectInput{Bucket: &cb, Key: aws.String("k"), Body: bytes.NewReader(small)})
		wantCode(t, fmt.Sprintf("carol's PutObject at node%d", i), err, "PaymentRequired", 403)
	}
	if l, err := sn.sdk(carol, 0).ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &cb}); err != nil || len(l.Contents) != 0 {
		t.Fatalf("carol's bucket after refused puts: %v %+v", err, l)
	}
	if _, err := sn.sdk(carol, 1).DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &cb}); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a3.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
}

func testS3Presigned(t *testing.T, sn *s3Net, a s3Account) {
	ctx := sn.ctx
	bucket := "presign-bucket"
	if _, err := sn.sdk(a, 0).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	// A PUT URL made for node1's gateway, a GET URL for node3's: no
	// credentials go with either request.
	data := s3clitest.Pattern(123_457, 10)
	pput, err := awss3.NewPresignClient(sn.sdk(a, 1)).PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("pre/obj")},
		awss3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, pput.Method, pput.URL, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for h, v := range pput.SignedHeader {
		if !strings.EqualFold(h, "host") {
			req.Header[h] = v
		}
	}
	resp, err := (&http.Client{Transport: sn.tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Trim(resp.Header.Get("ETag"), `"`) != s3clitest.MD5Hex(data) {
		t.Fatalf("presigned PUT: %s, ETag %s", resp.Status, resp.Header.Get("ETag"))
	}
	pget, err := awss3.NewPresignClient(sn.sdk(a, 3)).PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("pre/obj")},
		awss3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = (&http.Client{Transport: sn.tr}).Get(pget.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("presigned GET: %s, %d bytes, %v", resp.Status, len(got), err)
	}
	// The URL is the key's node's: at another gateway the key is unknown;
	// tampered with, its signature fails.
	other := strings.Replace(pget.URL, strings.TrimPrefix(sn.nw.Nodes[3].S3, "http://"), strings.TrimPrefix(sn.nw.Nodes[0].S3, "http://"), 1)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, other, nil)
	if st, code := sn.do(req); st != 403 || code != "InvalidAccessKeyId" {
		t.Fatalf("node3's presigned URL at node0: %d %s", st, code)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, strings.Replace(pget.URL, "pre/obj", "pre/other", 1), nil)
	if st, code := sn.do(req); st != 403 || code != "SignatureDoesNotMatch" {
		t.Fatalf("a presigned URL for another key: %d %s", st, code)
	}
	c := sn.sdk(a, 2)
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("pre/obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
}

// Two accounts never see each other's buckets or objects, through any
// gateway.
func testS3Accounts(t *testing.T, sn *s3Net, alice, bob s3Account) {
	ctx := sn.ctx
	ab, bb := "alice-private", "bob-private"
	if _, err := sn.sdk(alice, 0).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &ab}); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.sdk(bob, 1).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bb}); err != nil {
		t.Fatal(err)
	}
	putObject(t, ctx, sn.sdk(alice, 2), ab, "secret.txt", []byte("alice's"))
	putObject(t, ctx, sn.sdk(bob, 3), bb, "secret.txt", []byte("bob's"))
	for i := range sn.nw.Nodes {
		for _, tc := range []struct {
			who         string
			me          s3Account
			mine, their string
		}{{"alice", alice, ab, bb}, {"bob", bob, bb, ab}} {
			c := sn.sdk(tc.me, i)
			at := fmt.Sprintf("%s at node%d", tc.who, i)
			lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
			if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != tc.mine {
				t.Fatalf("%s: ListBuckets %v %+v", at, err, lb)
			}
			if got, _ := getObject(t, ctx, c, tc.mine, "secret.txt", ""); string(got) != tc.who+"'s" {
				t.Fatalf("%s: own object %q", at, got)
			}
			_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &tc.their})
			if s3Status(err) != 403 {
				t.Fatalf("%s: HeadBucket of the other's: %v", at, err)
			}
			_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &tc.their})
			wantCode(t, at+": ListObjectsV2 of the other's bucket", err, "AccessDenied", 403)
			_, err = c.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: &tc.their})
			wantCode(t, at+": ListObjects of the other's bucket", err, "AccessDenied", 403)
			_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &tc.their, Key: aws.String("secret.txt")})
			wantCode(t, at+": GetObject of the other's object", err, "AccessDenied", 403)
			_, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &tc.their, Key: aws.String("secret.txt")})
			if s3Status(err) != 403 {
				t.Fatalf("%s: HeadObject of the other's object: %v", at, err)
			}
			_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &tc.their, Key: aws.String("secret.txt"), Body: strings.NewReader("overwritten")})
			wantCode(t, at+": PutObject into the other's bucket", err, "AccessDenied", 403)
			_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &tc.their, Key: aws.String("secret.txt")})
			wantCode(t, at+": DeleteObject in the other's bucket", err, "AccessDenied", 403)
			_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: &tc.mine, Key: aws.String("stolen"), CopySource: aws.String(tc.their + "/secret.txt")})
			wantCode(t, at+": CopyObject from the other's bucket", err, "AccessDenied", 403)
			_, err = c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &tc.their, Key: aws.String("k")})
			wantCode(t, at+": CreateMultipartUpload in the other's bucket", err, "AccessDenied", 403)
			_, err = c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &tc.their})
			wantCode(t, at+": ListMultipartUploads of the other's bucket", err, "AccessDenied", 403)
			_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &tc.their})
			wantCode(t, at+": DeleteBucket of the other's", err, "AccessDenied", 403)
		}
	}
	// Both objects are intact, each for its owner only.
	for _, tc := range []struct {
		a      s3Account
		bucket string
		want   string
	}{{alice, ab, "alice's"}, {bob, bb, "bob's"}} {
		if got, _ := getObject(t, ctx, sn.sdk(tc.a, 1), tc.bucket, "secret.txt", ""); string(got) != tc.want {
			t.Fatalf("%s/secret.txt: %q", tc.bucket, got)
		}
		if l, err := sn.sdk(tc.a, 2).ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &tc.bucket}); err != nil || len(l.Contents) != 1 {
			t.Fatalf("%s: %v %+v", tc.bucket, err, l)
		}
	}
}

// sha256Hex is the hex SHA-256 of r's bytes, streamed.
func sha256Hex(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// A 1 GiB object in 16 parts of 64 MiB through node1's gateway, read back
// through node3's with the same bytes: the parts come from a seeded PRNG as
// they are sent (one part in memory at a time), the download is hashed as
// it streams.
func TestS3MultipartGiBAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through a process testnet: not in -short")
	}
	sn := startS3Net(t, 4, 15*time.Minute)
	ctx := sn.ctx
	a := sn.account("big", "100000")
	up, down := sn.sdk(a, 1), sn.sdk(a, 3)
	bucket, key := "gib-bucket", "one/gib.bin"
	if _, err := up.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	const partSize, parts = 64 << 20, 16
	rng := rand.NewChaCha8([32]byte{'d', 'd', 's', 1})
	buf := make([]byte, partSize)
	whole, sums := sha256.New(), []byte{}
	start := time.Now()
	cr, err := up.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for n := int32(1); n <= parts; n++ {
		rng.Read(buf)
		whole.Write(buf)
		sum := md5.Sum(buf)
		sums = append(sums, sum[:]...)
		out, err := up.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(buf)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if unquote(out.ETag) != hex.EncodeToString(sum[:]) {
			t.Fatalf("part %d's ETag %s", n, aws.ToString(out.ETag))
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	buf = nil
	partsDone := time.Since(start)
	comp, err := up.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatalf("complete: %v\n%s", err, sn.stderr)
	}
	stored := time.Since(start)
	if want := fmt.Sprintf("%s-%d", s3clitest.MD5Hex(sums), parts); unquote(comp.ETag) != want {
		t.Fatalf("ETag %s, want %s", aws.ToString(comp.ETag), want)
	}
	start = time.Now()
	out, err := down.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := sha256Hex(out.Body)
	out.Body.Close()
	read := time.Since(start)
	if err != nil || n != partSize*parts || got != hex.EncodeToString(whole.Sum(nil)) {
		t.Fatalf("read back at node3: %d bytes, sha256 %s, %v", n, got, err)
	}
	mbs := func(d time.Duration) float64 { return float64(partSize*parts) / 1e6 / d.Seconds() }
	t.Logf("1 GiB in %d parts of 64 MiB: parts uploaded at node1 in %v (%.0f MB/s), completed and stored on its holders after %v (%.0f MB/s end to end); read at node3 in %v (%.0f MB/s)",
		parts, partsDone.Round(time.Millisecond), mbs(partsDone), stored.Round(time.Millisecond), mbs(stored), read.Round(time.Millisecond), mbs(read))
	if _, err := down.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
}

// The in-process network serves each node's S3 gateway too (Node.S3URL,
// kept across a restart): an object put through node1's reads at node2's.
func TestS3InProcessNetwork(t *testing.T) {
	nw := startStorageNet(t, 4, 3, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	proc := storageClient(t, nw.Nodes[0])
	acc, err := proc.OpenAccount(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.Credit(ctx, acc.ID, 1_000_000_000_000, "", nil); err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	sn := &s3Net{t: t, ctx: ctx, tr: tr}
	sdk := func(i int) *awss3.Client {
		t.Helper()
		c, err := client.New(nw.Nodes[i].URL, client.WithAPIKey(acc.APIKey))
		if err != nil {
			t.Fatal(err)
		}
		var k api.S3Key
		for try := 0; ; try++ {
			if k, err = c.CreateS3Key(ctx); err == nil || try == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || k.Endpoint != nw.Nodes[i].S3URL {
			t.Fatalf("node%d's key: %v, endpoint %s, gateway %s", i, err, k.Endpoint, nw.Nodes[i].S3URL)
		}
		return sn.sdkWith(nw.Nodes[i].S3URL, k.AccessKeyID, k.SecretAccessKey)
	}
	bucket := "in-process"
	if _, err := sdk(0).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	data := s3clitest.Pattern(200_000, 14)
	putObject(t, ctx, sdk(1), bucket, "k", data)
	if got, _ := getObject(t, ctx, sdk(2), bucket, "k", ""); !bytes.Equal(got, data) {
		t.Fatal("the object at node2's gateway")
	}
	c3 := sdk(3)
	was, wasURL := nw.Nodes[3].S3URL, nw.Nodes[3].URL
	if err := nw.Stop(3); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if nw.Nodes[3].S3URL != was || nw.Nodes[3].URL != wasURL {
		t.Fatalf("node3's gateway moved from %s to %s, its API from %s to %s", was, nw.Nodes[3].S3URL, wasURL, nw.Nodes[3].URL)
	}
	// Its keys are in its data dir: the same client works again.
	if err := nw.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := getObject(t, ctx, c3, bucket, "k", ""); !bytes.Equal(got, data) {
		t.Fatal("the object at node3's gateway after its restart")
	}
}
