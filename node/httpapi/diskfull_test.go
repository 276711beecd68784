package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// fullService is a node whose disk holds room bytes: it refuses an upload
// whose known size exceeds them before reading, and one that outgrows
// them while it streams, as node.Upload does.
type fullService struct {
	*fakeService
	room    int64
	minSize int64 // the last upload's MinSize
}

func (f *fullService) Upload(ctx context.Context, u node.Upload) (node.File, error) {
	f.minSize = u.MinSize
	if u.MinSize > f.room {
		return node.File{}, fmt.Errorf("%w: this node has %d bytes of room left", node.ErrInsufficientStorage, f.room)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(u.Body, f.room+1))
	if err != nil {
		return node.File{}, err
	}
	if n > f.room {
		return node.File{}, fmt.Errorf("stage upload: %w: no space left for chunks", node.ErrInsufficientStorage)
	}
	return f.fakeService.Upload(ctx, node.Upload{Name: u.Name, Body: bytes.NewReader(make([]byte, n))})
}

func TestInsufficientStorage(t *testing.T) {
	svc := &fullService{fakeService: newFakeService(), room: 1 << 20}
	s := testServer(t, svc, &fakeRecords{})
	big := bytes.Repeat([]byte("x"), 2<<20)
	b64 := base64.StdEncoding.EncodeToString(big)
	jsonDoc := `{"data":{"type":"file","attributes":{"name":"a","data":"` + b64 + `"}}}`
	for _, tc := range []struct {
		name    string
		req     func() *http.Request
		minSize int64
	}{
		{"octet stream, declared", func() *http.Request {
			return request("POST", "/files?name=a", "application/octet-stream", bytes.NewReader(big))
		}, 2 << 20},
		{"octet stream, chunked", func() *http.Request {
			r := request("POST", "/files?name=a", "application/octet-stream", io.MultiReader(bytes.NewReader(big)))
			r.ContentLength = -1
			return r
		}, 0},
		{"JSON", func() *http.Request {
			return request("POST", "/files", api.MediaType, strings.NewReader(jsonDoc))
		}, int64(len(jsonDoc)-docOverhead) / 4 * 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, s, tc.req())
			if rec.Code != http.StatusInsufficientStorage {
				t.Fatalf("%d %s, want 507", rec.Code, rec.Body)
			}
			doc := decode[api.ErrorDocument](t, rec)
			if len(doc.Errors) != 1 || doc.Errors[0].Code != api.CodeInsufficientStorage || doc.Errors[0].Status != "507" || doc.Errors[0].Title != "Insufficient storage" {
				t.Errorf("error document %+v", doc)
			}
			if svc.minSize != tc.minSize {
				t.Errorf("MinSize %d, want %d", svc.minSize, tc.minSize)
			}
		})
	}
	// What fits is taken.
	rec := serve(t, s, request("POST", "/files?name=a", "application/octet-stream", bytes.NewReader(big[:1<<20])))
	if rec.Code != http.StatusPaymentRequired {
		t.Fatalf("an upload that fits: %d %s", rec.Code, rec.Body)
	}
}

func TestMinSize(t *testing.T) {
	for _, tc := range []struct {
		n      int64
		mt, ct string
		want   int64
	}{
		{-1, "application/octet-stream", "application/octet-stream", 0},
		{5, "application/octet-stream", "application/octet-stream", 5},
		{docOverhead + 400, "application/vnd.api+json", api.MediaType, 300},
		{docOverhead - 1, "application/json", "application/json", 0},
		{docOverhead + 10, "multipart/form-data", "multipart/form-data; boundary=x", 10},
	} {
		if got := minSize(tc.n, tc.mt, tc.ct); got != tc.want {
			t.Errorf("minSize(%d, %s) = %d, want %d", tc.n, tc.mt, got, tc.want)
		}
	}
}
