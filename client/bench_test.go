package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
)

// quoteServer reads the whole upload, checks its length and answers with
// a fixed quote. It does not decode the JSON form: the benchmark measures
// the client's encoding, not the server's decoding (the tests check that).
func quoteServer(b *testing.B) *client.Client {
	b.Helper()
	quote, _ := json.Marshal(api.Document[api.File]{Data: api.Resource[api.File]{
		Type: api.TypeFile, ID: "f", Attributes: api.File{Name: "x", State: api.StateQuoted, Price: 1}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil || n != r.ContentLength {
			http.Error(w, fmt.Sprintf("read %d of %d bytes: %v", n, r.ContentLength, err), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", api.MediaType)
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write(quote)
	}))
	b.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchmarkUpload(b *testing.B, size int, jsonForm bool) {
	c := quoteServer(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		o := client.UploadOptions{Name: "bench", Size: int64(len(data))}
		var err error
		if jsonForm {
			_, err = c.UploadJSON(b.Context(), bytes.NewReader(data), o)
		} else {
			_, err = c.Upload(b.Context(), bytes.NewReader(data), o)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpload64MiB(b *testing.B)     { benchmarkUpload(b, 64<<20, false) }
func BenchmarkUploadJSON64MiB(b *testing.B) { benchmarkUpload(b, 64<<20, true) }
