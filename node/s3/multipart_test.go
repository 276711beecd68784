package s3

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestMultipart(t *testing.T) {
	g := newTLSGateway(t) // the SDK sends parts aws-chunked with CRC32 trailers over TLS
	ctx := t.Context()
	c := g.alice()
	b, k := aws.String("bkt"), aws.String("big/object")
	must[*awss3.CreateBucketOutput](t)(c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b}))

	cr := must[*awss3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket: b, Key: k, ContentType: aws.String("video/mp4"), Metadata: map[string]string{"take": "2"},
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}))
	id := cr.UploadId
	parts := [][]byte{patternBytes(minPartSize, 1), patternBytes(minPartSize, 2), patternBytes(1234, 3)}
	etags := make([]string, len(parts))
	up := func(n int, data []byte) string {
		out := must[*awss3.UploadPartOutput](t)(c.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: b, Key: k, UploadId: id, PartNumber: aws.Int32(int32(n)), Body: bytes.NewReader(data),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		}))
		return *out.ETag
	}
	// Part 2 first uploaded with other bytes, then again: the retry replaces it.
	up(2, patternBytes(minPartSize, 9))
	for i, p := range parts {
		etags[i] = up(i+1, p)
	}

	lp := must[*awss3.ListPartsOutput](t)(c.ListParts(ctx, &awss3.ListPartsInput{Bucket: b, Key: k, UploadId: id}))
	if len(lp.Parts) != 3 || *lp.Parts[1].ETag != etags[1] || *lp.Parts[2].Size != 1234 {
		t.Fatalf("ListParts: %+v", lp.Parts)
	}
	lp2 := must[*awss3.ListPartsOutput](t)(c.ListParts(ctx, &awss3.ListPartsInput{Bucket: b, Key: k, UploadId: id, MaxParts: aws.Int32(2)}))
	if len(lp2.Parts) != 2 || !*lp2.IsTruncated || *lp2.NextPartNumberMarker != "2" {
		t.Fatalf("ListParts page: %d parts, truncated %v, next %v", len(lp2.Parts), *lp2.IsTruncated, *lp2.NextPartNumberMarker)
	}
	lu := must[*awss3.ListMultipartUploadsOutput](t)(c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: b}))
	if len(lu.Uploads) != 1 || *lu.Uploads[0].UploadId != *id {
		t.Fatalf("ListMultipartUploads: %+v", lu.Uploads)
	}

	complete := func(ps ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
		return err
	}
	part := func(n int, etag string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: aws.String(etag)}
	}
	wantCode(t, complete(part(2, etags[1]), part(1, etags[0]), part(3, etags[2])), "InvalidPartOrder")
	wantCode(t, complete(part(1, etags[0]), part(2, `"0123"`), part(3, etags[2])), "InvalidPart")
	wantCode(t, complete(part(1, etags[0]), part(4, etags[2])), "InvalidPart")
	wantCode(t, complete(part(1, etags[0]), part(3, etags[2]), part(4, etags[2])), "InvalidPart")

	// A small part that is not the last.
	small := must[*awss3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("small")}))
	var smallTags []string
	for i := 1; i <= 2; i++ {
		out := must[*awss3.UploadPartOutput](t)(c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: b, Key: aws.String("small"), UploadId: small.UploadId,
			PartNumber: aws.Int32(int32(i)), Body: strings.NewReader("tiny")}))
		smallTags = append(smallTags, *out.ETag)
	}
	_, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: small.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, smallTags[0]), part(2, smallTags[1])}}})
	wantCode(t, err, "EntityTooSmall")
	must[*awss3.AbortMultipartUploadOutput](t)(c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: small.UploadId}))
	_, err = c.ListParts(ctx, &awss3.ListPartsInput{Bucket: b, Key: aws.String("small"), UploadId: small.UploadId})
	wantCode(t, err, "NoSuchUpload")

	done := must[*awss3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, etags[0]), part(2, etags[1]), part(3, etags[2])}}}))
	want := MultipartETag(etags)
	if strings.Trim(*done.ETag, `"`) != want || !strings.HasSuffix(want, "-3") {
		t.Fatalf("multipart ETag %s, want %s", *done.ETag, want)
	}
	get := must[*awss3.GetObjectOutput](t)(c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: k}))
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, bytes.Join(parts, nil)) || *get.ContentType != "video/mp4" || get.Metadata["take"] != "2" || strings.Trim(*get.ETag, `"`) != want {
		t.Fatalf("assembled object: %d bytes, %s, %v, %s", len(got), *get.ContentType, get.Metadata, *get.ETag)
	}

	// UploadPartCopy: a range of the assembled object into a new upload.
	cp := must[*awss3.CreateMultipartUploadOutput](t)(c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("copied")}))
	pc := must[*awss3.UploadPartCopyOutput](t)(c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: b, Key: aws.String("copied"), UploadId: cp.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("bkt/big/object"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", minPartSize, minPartSize+99))}))
	must[*awss3.CompleteMultipartUploadOutput](t)(c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("copied"), UploadId: cp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, *pc.CopyPartResult.ETag)}}}))
	get = must[*awss3.GetObjectOutput](t)(c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: aws.String("copied")}))
	got, _ = io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, parts[1][:100]) {
		t.Fatal("UploadPartCopy: different bytes")
	}
}

func TestMultipartETag(t *testing.T) {
	// Two parts whose MD5s are known: md5("a") and md5("b").
	got := MultipartETag([]string{"0cc175b9c0f1b6a831c399e269772661", `"92eb5ffee6ae2fec3ad71c777531578f"`})
	// md5(md5("a") || md5("b")), computed apart from this package.
	if got != "96e024ba2074fe77e8e965ba43a704be-2" {
		t.Fatalf("MultipartETag %q", got)
	}
}
