package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func (g *gateway) minio(virtualHost, trailers bool) *minio.Client {
	g.t.Helper()
	u, _ := url.Parse(g.srv.URL)
	endpoint, lookup := u.Host, minio.BucketLookupPath
	if virtualHost {
		endpoint, lookup = testDomain+":"+u.Port(), minio.BucketLookupDNS
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(testKey, testSecret, ""),
		Region:          "us-east-1",
		BucketLookup:    lookup,
		Transport:       g.httpClient().Transport,
		TrailingHeaders: trailers,
		MaxRetries:      1,
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

// TestMinio drives the gateway with minio-go, which signs every chunk of
// a PutObject over plain HTTP (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, and
// the -TRAILER form with a checksum trailer).
func TestMinio(t *testing.T) {
	for _, tc := range []struct {
		name         string
		vh, trailers bool
	}{{"path", false, false}, {"virtualHost", true, false}, {"path-trailers", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t)
			c := g.minio(tc.vh, tc.trailers)
			ctx := t.Context()
			if err := c.MakeBucket(ctx, "mbucket", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			if ok, err := c.BucketExists(ctx, "mbucket"); !ok || err != nil {
				t.Fatalf("BucketExists: %v %v", ok, err)
			}
			data := patternBytes(300_000, 4)
			opts := minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{"color": "blue"}}
			if tc.trailers {
				opts.Checksum = minio.ChecksumCRC32C
			}
			info, err := c.PutObject(ctx, "mbucket", "dir/obj", bytes.NewReader(data), int64(len(data)), opts)
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != md5hex(data) {
				t.Fatalf("ETag %s", info.ETag)
			}
			obj, err := c.GetObject(ctx, "mbucket", "dir/obj", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("GetObject: %v, %d bytes", err, len(got))
			}
			st, err := c.StatObject(ctx, "mbucket", "dir/obj", minio.StatObjectOptions{})
			if err != nil || st.Size != int64(len(data)) || st.UserMetadata["Color"] != "blue" || st.ContentType != "text/plain" {
				t.Fatalf("StatObject: %v %+v", err, st)
			}
			ro := minio.GetObjectOptions{}
			_ = ro.SetRange(10, 19)
			obj, err = c.GetObject(ctx, "mbucket", "dir/obj", ro)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(obj)
			obj.Close()
			if !bytes.Equal(got, data[10:20]) {
				t.Fatalf("range: %d bytes", len(got))
			}

			// Multipart: 12 MiB of unknown length in 5 MiB parts.
			big := int64(12 << 20)
			info, err = c.PutObject(ctx, "mbucket", "big", io.MultiReader(pattern(big, 5)), -1, minio.PutObjectOptions{PartSize: 5 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(info.ETag, "-3") {
				t.Fatalf("multipart ETag %s", info.ETag)
			}
			st, err = c.StatObject(ctx, "mbucket", "big", minio.StatObjectOptions{})
			if err != nil || st.Size != big {
				t.Fatalf("StatObject big: %v %d", err, st.Size)
			}

			if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: "mbucket", Object: "copy"}, minio.CopySrcOptions{Bucket: "mbucket", Object: "dir/obj"}); err != nil {
				t.Fatal(err)
			}
			var listed []string
			for o := range c.ListObjects(ctx, "mbucket", minio.ListObjectsOptions{Recursive: true, MaxKeys: 1}) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				listed = append(listed, o.Key)
			}
			if fmt.Sprint(listed) != "[big copy dir/obj]" {
				t.Fatalf("listed %v", listed)
			}

			u, err := c.PresignedGetObject(ctx, "mbucket", "dir/obj", time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := g.httpClient().Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
			}

			objs := make(chan minio.ObjectInfo, 3)
			for _, k := range []string{"big", "copy", "dir/obj"} {
				objs <- minio.ObjectInfo{Key: k}
			}
			close(objs)
			for e := range c.RemoveObjects(ctx, "mbucket", objs, minio.RemoveObjectsOptions{}) {
				t.Fatalf("RemoveObjects: %v", e.Err)
			}
			if err := c.RemoveBucket(ctx, "mbucket"); err != nil {
				t.Fatal(err)
			}
			_, err = c.StatObject(ctx, "mbucket", "dir/obj", minio.StatObjectOptions{})
			if minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
				t.Fatalf("after RemoveBucket: %v", err)
			}
		})
	}
}
