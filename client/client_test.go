package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/internal/apitest"
)

func newClient(t *testing.T, f *apitest.Node, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithPollInterval(time.Millisecond)}, opts...)
	c, err := client.New(f.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func apiError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *client.Error", err, err)
	}
	return e
}

func TestNewValidatesURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:7070", true},
		{"https://node.example/api/", true},
		{"127.0.0.1:7070", false},
		{"ftp://host", false},
		{"http://", false},
		{"http://host/?x=1", false},
		{"http://user:pw@host", false},
		{"http://host\x7f", false},
	}
	for _, tt := range tests {
		c, err := client.New(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
		}
		if err != nil && !errors.Is(err, client.ErrBadURL) {
			t.Errorf("New(%q) error %v is not ErrBadURL", tt.url, err)
		}
		if err == nil && strings.HasSuffix(c.URL(), "/") {
			t.Errorf("URL() = %q keeps a trailing slash", c.URL())
		}
	}
}

func TestBasePathIsKept(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		_, _ = io.WriteString(w, `{"status":"up"}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL + "/dds/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := path.Load(); got != "/dds/status" {
		t.Errorf("path = %v, want /dds/status", got)
	}
}

func TestUploadReturnsQuote(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	data := randomBytes(100_000, 1)
	opts := client.UploadOptions{
		Name: "report.pdf", Duration: 5 * 86400, Size: int64(len(data)), IdempotencyKey: "k1",
		Additional: map[string]json.RawMessage{"owner": json.RawMessage(`"alice"`)},
	}
	file, err := c.Upload(t.Context(), bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("402 must not be an error: %v", err)
	}
	if file.ID == "" || file.State != api.StateQuoted || file.Size != int64(len(data)) || file.Name != "report.pdf" {
		t.Fatalf("file = %+v", file)
	}
	if want := api.Tokens(5 * len(data)); file.Price != want {
		t.Errorf("price = %s, want %s", file.Price, want)
	}
	if file.QuoteExpiresAt == nil || file.CID == "" || file.Duration != 5*86400 {
		t.Errorf("quote fields missing: %+v", file.File)
	}
	if string(file.Additional["owner"]) != `"alice"` {
		t.Errorf("additional = %s", file.Additional)
	}
	f.Set(func(f *apitest.Node) {
		if f.UploadLen != int64(len(data)) {
			t.Errorf("Content-Length = %d, want %d", f.UploadLen, len(data))
		}
		if got := f.LastHeader.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := f.LastHeader.Get("Idempotency-Key"); got != "k1" {
			t.Errorf("Idempotency-Key = %q", got)
		}
	})

	// The same key and body: the first answer again.
	again, err := c.Upload(t.Context(), bytes.NewReader(data), opts)
	if err != nil || again.ID != file.ID {
		t.Fatalf("replay = %+v, %v; want id %s", again, err, file.ID)
	}
	// The same key, another body.
	_, err = c.Upload(t.Context(), strings.NewReader("other"), client.UploadOptions{Name: "x", Size: 5, IdempotencyKey: "k1"})
	if e := apiError(t, err); e.Status != http.StatusConflict || e.Code() != api.CodeIdempotencyKeyReused {
		t.Errorf("reused key: status %d code %q", e.Status, e.Code())
	}
}

func TestUploadUnknownAndZeroSize(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	data := randomBytes(70_000, 2)
	// io.MultiReader hides the length from net/http.
	file, err := c.Upload(t.Context(), io.MultiReader(bytes.NewReader(data)), client.UploadOptions{Name: "a", Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if file.Size != int64(len(data)) {
		t.Errorf("size = %d", file.Size)
	}
	f.Set(func(f *apitest.Node) {
		if f.UploadLen != -1 {
			t.Errorf("unknown size sent with Content-Length %d", f.UploadLen)
		}
	})
	// Size 0 (the zero value) with a body that is not empty still sends it.
	file, err = c.Upload(t.Context(), io.MultiReader(bytes.NewReader(data)), client.UploadOptions{Name: "b"})
	if err != nil || file.Size != int64(len(data)) {
		t.Fatalf("size 0 with data: %+v, %v", file, err)
	}
	file, err = c.Upload(t.Context(), io.MultiReader(), client.UploadOptions{Name: "empty"})
	if err != nil || file.Size != 0 {
		t.Fatalf("empty: %+v, %v", file, err)
	}
	if _, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: "c", Size: -2}); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("size -2: %v", err)
	}
	// A size that does not match the body fails locally.
	if _, err := c.Upload(t.Context(), bytes.NewReader(data[:10]), client.UploadOptions{Name: "d", Size: 20}); err == nil {
		t.Error("short body accepted")
	}
}

func TestUploadJSONStreamsBase64(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	for _, tc := range []struct {
		name string
		size int
		send int64 // UploadOptions.Size
	}{
		{"known size", 5<<20 + 1, 5<<20 + 1},
		{"unknown size", 3<<20 + 2, -1},
		{"one byte", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size, uint64(tc.size))
			// A pipe fed in small pieces: the client cannot see the whole file.
			pr, pw := io.Pipe()
			go func() {
				for b := data; len(b) > 0; {
					n := min(len(b), 32<<10)
					if _, err := pw.Write(b[:n]); err != nil {
						return
					}
					b = b[n:]
				}
				pw.Close()
			}()
			t.Cleanup(func() { pr.Close() })
			file, err := c.UploadJSON(t.Context(), pr, client.UploadOptions{
				Name: "big.bin", Duration: 86400, Size: tc.send, IdempotencyKey: "json-" + tc.name,
				Additional: map[string]json.RawMessage{"n": json.RawMessage(`1`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if file.Size != int64(len(data)) || file.Name != "big.bin" || string(file.Additional["n"]) != "1" {
				t.Fatalf("file = %+v", file.File)
			}
			f.Set(func(f *apitest.Node) {
				if got := f.LastHeader.Get("Content-Type"); got != api.MediaType {
					t.Errorf("Content-Type = %q", got)
				}
				if tc.send < 0 && f.UploadLen != -1 {
					t.Errorf("Content-Length = %d for an unknown size", f.UploadLen)
				}
				if tc.send > 0 && f.UploadLen <= tc.send {
					t.Errorf("Content-Length = %d, want the base64 document's length", f.UploadLen)
				}
			})
			f.SetPaid(file.ID)
			body, n, err := c.Download(t.Context(), file.ID, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			got, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) || !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes (length %d), equal=%v", len(got), n, bytes.Equal(got, data))
			}
		})
	}
}

func TestUploadJSONServerRefusesEarly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.MediaType)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, `{"errors":[{"status":"413","code":"payloadTooLarge","title":"Payload too large","detail":"limit 10 bytes"}]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadJSON(t.Context(), bytes.NewReader(randomBytes(4<<20, 3)), client.UploadOptions{Name: "x", Size: -1})
	// The server may close before the body is sent: either its answer or a
	// transport error, but never a hang and never success.
	if err == nil {
		t.Fatal("refused upload returned no error")
	}
	var e *client.Error
	if errors.As(err, &e) && e.Code() != api.CodePayloadTooLarge {
		t.Errorf("code = %q", e.Code())
	}
}

func TestErrorDecoding(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	// A field error with a pointer.
	_, err := c.Upload(t.Context(), strings.NewReader("x"), client.UploadOptions{Size: 1})
	e := apiError(t, err)
	if e.Status != 400 || e.Code() != api.CodeRequired || e.Pointer() != "/data/attributes/name" {
		t.Errorf("status %d code %q pointer %q", e.Status, e.Code(), e.Pointer())
	}
	if !client.IsCode(err, api.CodeRequired) || client.IsCode(err, api.CodeNotFound) || client.IsCode(errors.New("x"), "") {
		t.Error("IsCode wrong")
	}
	if want := "required: name is required (at /data/attributes/name)"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	// Several errors at once, with parameters.
	_, err = c.LocalPayments(t.Context(), "2026-11-01", "x")
	e = apiError(t, err)
	if len(e.Errors) != 2 || e.Errors[1].Source.Parameter != "to" || e.Pointer() != "" {
		t.Errorf("errors = %+v", e.Errors)
	}
	if !strings.Contains(e.Error(), "; ") {
		t.Errorf("Error() = %q does not join", e.Error())
	}
	// Retry-After.
	f.Set(func(f *apitest.Node) { f.Limited = true })
	_, err = c.File(t.Context(), "whatever")
	e = apiError(t, err)
	if e.Status != 429 || e.Code() != api.CodeRateLimited || e.RetryAfter != 7*time.Second || !e.Temporary() {
		t.Errorf("429: %+v", e)
	}
}

func TestErrorWithoutDocument(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		header     string
		code       string
		detail     string
		retryAfter time.Duration
	}{
		{http.StatusBadGateway, "upstream broke\n", "", api.CodeUnavailable, "upstream broke", 0},
		{http.StatusNotFound, "", "", api.CodeNotFound, "Not Found", 0},
		{http.StatusInternalServerError, `{"oops":1}`, "", api.CodeInternal, "Internal Server Error", 0},
		{http.StatusServiceUnavailable, "", "120", api.CodeUnavailable, "Service Unavailable", 2 * time.Minute},
		{http.StatusTooManyRequests, "", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), api.CodeRateLimited, "Too Many Requests", 50 * time.Minute},
		{http.StatusTeapot, "", "soon", api.CodeInvalidRequest, "I'm a teapot", 0},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.header != "" {
				w.Header().Set("Retry-After", tt.header)
			}
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, tt.body)
		}))
		c, err := client.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Payment(t.Context(), "p")
		srv.Close()
		e := apiError(t, err)
		if e.Status != tt.status || e.Code() != tt.code || e.Errors[0].Detail != tt.detail ||
			e.Errors[0].Title != api.Titles[tt.code] || e.Errors[0].Status == "" {
			t.Errorf("%d: %+v", tt.status, e.Errors)
		}
		// An HTTP date is rounded to seconds: allow the test's own run time.
		if e.RetryAfter > tt.retryAfter+time.Hour/6 || e.RetryAfter < tt.retryAfter {
			t.Errorf("%d: RetryAfter = %v, want about %v", tt.status, e.RetryAfter, tt.retryAfter)
		}
	}
}

func TestFileAndFiles(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	var ids []string
	for i := range 5 {
		file, err := c.Upload(t.Context(), bytes.NewReader([]byte{byte(i)}), client.UploadOptions{Name: "f", Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, file.ID)
	}
	got, err := c.File(t.Context(), ids[2])
	if err != nil || got.ID != ids[2] || got.State != api.StateQuoted {
		t.Fatalf("File = %+v, %v", got, err)
	}
	if _, err := c.File(t.Context(), "no/such"); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("unknown file: %v", err)
	}

	var listed []string
	after, pages := "", 0
	for {
		page, next, err := c.Files(t.Context(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range page {
			listed = append(listed, p.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if pages != 3 || strings.Join(listed, ",") != strings.Join(ids, ",") {
		t.Errorf("%d pages: %v, want %v", pages, listed, ids)
	}
	all, next, err := c.Files(t.Context(), "", 0)
	if err != nil || len(all) != 5 || next != "" {
		t.Errorf("default page: %d files, next %q, %v", len(all), next, err)
	}
	if _, _, err := c.Files(t.Context(), "", 5000); !client.IsCode(err, api.CodeInvalidValue) {
		t.Errorf("page size 5000: %v", err)
	}
}

func TestDownload(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	data := randomBytes(1000, 4)
	file, err := c.Upload(t.Context(), bytes.NewReader(data), client.UploadOptions{Name: "d", Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Download(t.Context(), file.ID, 0, -1)
	if e := apiError(t, err); e.Status != http.StatusPaymentRequired || e.Code() != api.CodePaymentRequired {
		t.Errorf("unpaid download: %+v", e)
	}
	if _, _, err := c.Download(t.Context(), "nope", 0, -1); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("unknown download: %v", err)
	}
	f.SetPaid(file.ID)
	read := func(off, n int64) ([]byte, int64) {
		t.Helper()
		body, length, err := c.Download(t.Context(), file.ID, off, n)
		if err != nil {
			t.Fatalf("Download(%d, %d): %v", off, n, err)
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return b, length
	}
	for _, tt := range []struct{ off, n, from, to int64 }{
		{0, -1, 0, 1000}, {3, 4, 3, 7}, {990, -1, 990, 1000}, {0, 10, 0, 10}, {5, 0, 5, 5},
	} {
		b, length := read(tt.off, tt.n)
		if !bytes.Equal(b, data[tt.from:tt.to]) || length != tt.to-tt.from {
			t.Errorf("Download(%d, %d): %d bytes, length %d", tt.off, tt.n, len(b), length)
		}
	}
	if _, _, err := c.Download(t.Context(), file.ID, 2000, 5); !client.IsCode(err, api.CodeInvalidRequest) {
		t.Errorf("range past the end: %v", err)
	}
	if _, _, err := c.Download(t.Context(), file.ID, -1, 5); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("negative offset: %v", err)
	}
	f.Set(func(f *apitest.Node) { f.FailBody = true })
	body, _, err := c.Download(t.Context(), file.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(body); err == nil {
		t.Error("a cut download read without error")
	}
	body.Close()
}

func TestDownloadServerIgnoresRange(t *testing.T) {
	data := randomBytes(500, 5)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(data) // 200 whatever the Range
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ off, n, from, to int64 }{{10, 20, 10, 30}, {100, -1, 100, 500}, {490, 50, 490, 500}} {
		body, length, err := c.Download(t.Context(), "x", tt.off, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(body)
		body.Close()
		if !bytes.Equal(b, data[tt.from:tt.to]) || length != tt.to-tt.from {
			t.Errorf("(%d, %d): got %d bytes, length %d", tt.off, tt.n, len(b), length)
		}
	}
}

func TestExtendAndUpdate(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	file, err := c.Upload(t.Context(), strings.NewReader("hello"), client.UploadOptions{
		Name: "h", Size: 5, Duration: 86400, Additional: map[string]json.RawMessage{"a": json.RawMessage(`1`), "b": json.RawMessage(`2`)}})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := c.Extend(t.Context(), file.ID, 3*86400)
	if err != nil {
		t.Fatalf("402 must not be an error: %v", err)
	}
	// The file keeps its term until the extension is paid.
	if ext.State != api.StateExtensionQuoted || ext.Price != 1000 || ext.Duration != 86400 {
		t.Errorf("extension = %+v", ext.File)
	}
	_, err = c.Extend(t.Context(), file.ID, 86400)
	if e := apiError(t, err); e.Status != http.StatusConflict || e.Pointer() != "/data/attributes/duration" {
		t.Errorf("shorter term: %+v", e)
	}
	up, err := c.Update(t.Context(), file.ID, map[string]json.RawMessage{"a": json.RawMessage(`null`), "c": json.RawMessage(`"x"`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := up.Additional["a"]; ok || string(up.Additional["b"]) != "2" || string(up.Additional["c"]) != `"x"` {
		t.Errorf("additional = %s", up.Additional)
	}
	if _, err := c.Update(t.Context(), "missing", nil); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("update missing: %v", err)
	}
}

func TestPayAndWaitState(t *testing.T) {
	f := apitest.NewNode(t)
	noToken := newClient(t, f)
	wrongToken := newClient(t, f, client.WithBillingToken("nope"))
	c := newClient(t, f, client.WithBillingToken(apitest.Token))
	file, err := c.Upload(t.Context(), strings.NewReader("pay me"), client.UploadOptions{Name: "p", Size: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noToken.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, ""); !client.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("no token: %v", err)
	}
	if _, err := wrongToken.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, ""); !client.IsCode(err, api.CodeForbidden) {
		t.Errorf("wrong token: %v", err)
	}
	_, err = c.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price-1, "")
	if e := apiError(t, err); e.Code() != api.CodeAmountTooLow || e.Pointer() != "/data/attributes/amount" {
		t.Errorf("too low: %+v", e)
	}
	p, err := c.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, "pay-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.FileID != file.ID || p.Amount != file.Price || p.Status != api.PaymentSuccess {
		t.Errorf("payment = %+v", p)
	}
	again, err := c.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, "pay-1")
	if err != nil || again.ID != p.ID {
		t.Errorf("replayed payment = %+v, %v; want id %s", again, err, p.ID)
	}
	got, err := c.Payment(t.Context(), p.ID)
	if err != nil || got.ID != p.ID || got.Amount != p.Amount {
		t.Errorf("Payment = %+v, %v", got, err)
	}
	if _, err := c.Payment(t.Context(), "nope"); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("unknown payment: %v", err)
	}

	var seen []string
	stored, err := c.WaitState(t.Context(), file.ID, func(f *client.File) { seen = append(seen, f.State) }, api.StateStored)
	if err != nil {
		t.Fatal(err)
	}
	if stored.State != api.StateStored || len(stored.Replicas) == 0 {
		t.Errorf("stored = %+v", stored.File)
	}
	if len(seen) < 2 || seen[0] != api.StateStoring || seen[len(seen)-1] != api.StateStored {
		t.Errorf("progress saw %v", seen)
	}
	if _, err := c.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, ""); !client.IsCode(err, api.CodeAlreadyPaid) {
		t.Errorf("second payment: %v", err)
	}
}

func TestWaitStateEnds(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f, client.WithBillingToken(apitest.Token))
	file, err := c.Upload(t.Context(), strings.NewReader("x"), client.UploadOptions{Name: "x", Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitState(t.Context(), file.ID, nil); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("no states: %v", err)
	}
	// Already in the state: one poll.
	if got, err := c.WaitState(t.Context(), file.ID, nil, api.StateStored, api.StateQuoted); err != nil || got.State != api.StateQuoted {
		t.Errorf("quoted: %+v, %v", got, err)
	}
	// Rate limited once: waited out.
	f.Set(func(f *apitest.Node) { f.Limited = true; f.RetryAfter = "0" })
	if got, err := c.WaitState(t.Context(), file.ID, nil, api.StateQuoted); err != nil || got.State != api.StateQuoted {
		t.Errorf("after 429: %+v, %v", got, err)
	}
	var still bool
	if f.Set(func(f *apitest.Node) { still = f.Limited }); still {
		t.Error("the 429 was not sent")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.WaitState(ctx, file.ID, nil, api.StateStored); !errors.Is(err, ctx.Err()) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := c.Pay(t.Context(), file.ID, api.PaymentError, 0, ""); err != nil {
		t.Fatal(err)
	}
	got, err := c.WaitState(t.Context(), file.ID, nil, api.StateStored)
	if !errors.Is(err, client.ErrFinalState) || got == nil || got.State != api.StateCancelled {
		t.Errorf("cancelled file: %+v, %v", got, err)
	}
	if _, err := c.WaitState(t.Context(), "missing", nil, api.StateStored); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestLocalPayments(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f, client.WithBillingToken(apitest.Token))
	file, err := c.Upload(t.Context(), strings.NewReader("0123456789"), client.UploadOptions{Name: "x", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pay(t.Context(), file.ID, api.PaymentSuccess, file.Price, ""); err != nil {
		t.Fatal(err)
	}
	lp, err := c.LocalPayments(t.Context(), "20261101", "20261130")
	if err != nil {
		t.Fatal(err)
	}
	if lp.Amount != file.Price || lp.Size != 10 {
		t.Errorf("local = %+v", lp)
	}
	if _, err := c.LocalPayments(t.Context(), "20261130", "20261101"); !client.IsCode(err, api.CodeInvalidValue) {
		t.Errorf("reversed: %v", err)
	}
}

func TestStatusAndInfo(t *testing.T) {
	f := apitest.NewNode(t)
	c := newClient(t, f)
	st, err := c.Status(t.Context())
	if err != nil || st.Status != "up" || st.Index != 42 {
		t.Errorf("status = %+v, %v", st, err)
	}
	f.Set(func(f *apitest.Node) { f.Down = true })
	st, err = c.Status(t.Context())
	e := apiError(t, err)
	if st.Status != "down" || st.Reason != "no billing quorum" || e.Status != 503 ||
		e.Code() != api.CodeUnavailable || e.RetryAfter != 2*time.Second {
		t.Errorf("down: %+v, %+v", st, e)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.PeerID != "12D3KooWfake" || info.Prices.Rate != 1_000_000 || len(info.Quorum) != 1 || !info.Dev {
		t.Errorf("info = %+v", info)
	}
}

func TestStatusDownWithoutBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/info" {
			// A JSON:API wrapped info is accepted too.
			_, _ = io.WriteString(w, `{"data":{"type":"info","id":"x","attributes":{"name":"dds","peer_id":"P"}}}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context())
	if st.Status != "down" || !client.IsCode(err, api.CodeUnavailable) {
		t.Errorf("status = %+v, %v", st, err)
	}
	info, err := c.Info(t.Context())
	if err != nil || info.PeerID != "P" {
		t.Errorf("info = %+v, %v", info, err)
	}
}

func TestOptions(t *testing.T) {
	var ua, accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.Header.Get("User-Agent"))
		accept.Store(r.Header.Get("Accept"))
		_, _ = io.WriteString(w, `{"status":"up"}`)
	}))
	t.Cleanup(srv.Close)
	var used atomic.Int32
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err := client.New(srv.URL, client.WithHTTPClient(hc), client.WithUserAgent("dds-test/1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	if used.Load() != 1 || ua.Load() != "dds-test/1" || !strings.Contains(accept.Load().(string), api.MediaType) {
		t.Errorf("used %d, User-Agent %v, Accept %v", used.Load(), ua.Load(), accept.Load())
	}
}

func TestBadDocument(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/files/a/info":
			_, _ = io.WriteString(w, `{"data": [1, 2]}`)
		case "/files/b/info":
			_, _ = io.WriteString(w, `{"data": {"type": "file", "attributes": {"name": "x", "price": 1}}}`)
		default:
			_, _ = io.WriteString(w, `{"data": [], "links": {"next": "/files?page%5Bsize%5D=2"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := c.File(t.Context(), id); !errors.Is(err, client.ErrBadResponse) {
			t.Errorf("File(%s): %v", id, err)
		}
	}
	if _, _, err := c.Files(t.Context(), "", 2); !errors.Is(err, client.ErrBadResponse) {
		t.Errorf("next without cursor: %v", err)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
