package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
	"golang.org/x/time/rate"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// getContent pays for nothing: it reads a paid file's bytes.
func getContent(t *testing.T, s *Server, id string, hdr ...string) *bytes.Buffer {
	t.Helper()
	rec := serve(t, s, request("GET", "/files/"+id, "", nil, hdr...))
	if rec.Code != 200 {
		t.Fatalf("GET /files/%s: %d %s", id, rec.Code, rec.Body)
	}
	return rec.Body
}

func TestUploadForms(t *testing.T) {
	s, svc := newTestServer(t)
	small := []byte("hello, dds")
	large := randomBytes(3<<20+17, 1) // past the 64 KiB spool memory: spooled to a file
	addl := `{"owner":"alice","n":1}`
	mpDataFirst, mpDataFirstBody := multipartBody(t, [][2]string{{"file", string(large)}, {"duration", "3600"}, {"additional", addl}}, "big.bin")
	mpAttrsFirst, mpAttrsFirstBody := multipartBody(t, [][2]string{{"name", "named.bin"}, {"duration", "3600"}, {"additional", addl}, {"file", string(large)}}, "ignored.bin")
	mpDefault, mpDefaultBody := multipartBody(t, [][2]string{{"file", string(small)}}, "from-filename.txt")
	tests := []struct {
		name     string
		req      *http.Request
		content  []byte
		fileName string
		duration int64
		addl     bool
	}{
		{"json name first", request("POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a.txt", b64(string(small)), ""))), small, "a.txt", 2592000, false},
		{"json data first, attributes after", request("POST", "/files", "application/json; charset=utf-8", strings.NewReader(
			`{"data":{"attributes":{"data":"`+b64(string(large))+`","name":"big.bin","duration":3600,"additional":`+addl+`},"type":"file"}}`)), large, "big.bin", 3600, true},
		{"json attributes first (streamed)", request("POST", "/files", api.MediaType, strings.NewReader(
			`{"jsonapi":{"version":"1.1"},"data":{"type":"file","attributes":{"name":"big.bin","duration":3600,"additional":`+addl+`,"extra":[1,{"a":null}],"data":"`+b64(string(large))+`"}}}`)), large, "big.bin", 3600, true},
		{"json with escaped base64", request("POST", "/files", api.MediaType, strings.NewReader(`{"data":{"type":"file","attributes":{"name":"e.txt","data":"aGVs\u006Cv\/="}}}`)), []byte("hel\x96\xff"), "e.txt", 2592000, false},
		{"octet-stream", request("POST", "/files?name=raw.bin&duration=3600", "application/octet-stream", bytes.NewReader(large), "X-Additional", addl), large, "raw.bin", 3600, true},
		{"multipart file first", request("POST", "/files", mpDataFirst, mpDataFirstBody), large, "big.bin", 3600, true},
		{"multipart attributes first (streamed)", request("POST", "/files", mpAttrsFirst, mpAttrsFirstBody), large, "named.bin", 3600, true},
		{"multipart name from filename", request("POST", "/files", mpDefault, mpDefaultBody), small, "from-filename.txt", 2592000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, s, tt.req)
			if rec.Code != http.StatusPaymentRequired {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			f := decode[api.Document[api.File]](t, rec).Data
			a := f.Attributes
			if a.Name != tt.fileName || a.Size != int64(len(tt.content)) || a.State != api.StateQuoted || a.QuoteExpiresAt == nil {
				t.Errorf("attributes %+v", a)
			}
			wantDur := tt.duration
			if wantDur == 2592000 {
				wantDur = 2592000 // the node's default for 0
			}
			if a.Duration != wantDur {
				t.Errorf("duration %d, want %d", a.Duration, wantDur)
			}
			if tt.addl && string(a.Additional["owner"]) != `"alice"` {
				t.Errorf("additional %v", a.Additional)
			}
			if f.Links == nil || f.Links.Self != "/files/"+f.ID {
				t.Errorf("links %+v", f.Links)
			}
			if rec := pay(t, s, f.ID, a.Price); rec.Code != http.StatusCreated {
				t.Fatalf("pay: %d %s", rec.Code, rec.Body)
			}
			if got := getContent(t, s, f.ID); !bytes.Equal(got.Bytes(), tt.content) {
				t.Errorf("content differs: %d bytes, want %d", got.Len(), len(tt.content))
			}
		})
	}
	if svc.uploads != len(tests) {
		t.Errorf("%d uploads", svc.uploads)
	}
}

// gatedService signals when Upload starts.
type gatedService struct {
	*fakeService
	started chan struct{}
}

func (g *gatedService) Upload(ctx context.Context, u node.Upload) (node.File, error) {
	close(g.started)
	return g.fakeService.Upload(ctx, u)
}

// The bytes of a document whose attributes come first reach the node
// while the request is still arriving.
func TestJSONUploadStreams(t *testing.T) {
	g := &gatedService{fakeService: newFakeService(), started: make(chan struct{})}
	s, _ := newTestServer(t, func(c *Config) { c.Service = g })
	pr, pw := io.Pipe()
	content := randomBytes(1<<20, 2)
	go func() {
		fmt.Fprintf(pw, `{"data":{"type":"file","attributes":{"name":"s.bin","duration":60,"additional":{},"data":"%s`, b64(string(content[:300<<10])))
		<-g.started // Upload runs before the rest is sent
		fmt.Fprintf(pw, `%s"}}}`, b64(string(content[300<<10:])))
		pw.Close()
	}()
	rec := serve(t, s, request("POST", "/files", api.MediaType, pr))
	if rec.Code != http.StatusPaymentRequired {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	f := decode[api.Document[api.File]](t, rec).Data
	if f.Attributes.Size != int64(len(content)) {
		t.Errorf("size %d", f.Attributes.Size)
	}
}

// A streamed upload whose document turns out invalid after the bytes is
// abandoned: the node saw the bytes but never quoted.
func TestStreamedUploadInvalidTail(t *testing.T) {
	s, svc := newTestServer(t)
	for _, tail := range []string{`"type":"nope"`, `"type":"file","x":`, `"type":"file","attributes":{}`} {
		body := `{"data":{"attributes":{"name":"s.bin","duration":60,"additional":{},"data":"QUJD"},` + tail + `}}`
		rec := serve(t, s, request("POST", "/files", api.MediaType, strings.NewReader(body)))
		if rec.Code != 400 && rec.Code != 409 {
			t.Errorf("%s: status %d: %s", tail, rec.Code, rec.Body)
		}
	}
	if svc.calls == 0 || svc.uploads != 0 {
		t.Errorf("calls %d, uploads %d: want the node called and nothing quoted", svc.calls, svc.uploads)
	}
}

func TestContent(t *testing.T) {
	s, svc := newTestServer(t)
	content := randomBytes(1000, 3)
	rec := serve(t, s, request("POST", "/files?name=r%C3%A9sum%C3%A9%20%22final%22.pdf", "application/octet-stream", bytes.NewReader(content)))
	f := decode[api.Document[api.File]](t, rec).Data
	// Unpaid: 402 with the quote.
	if rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil)); rec.Code != 402 || decode[api.Document[api.File]](t, rec).Data.ID != f.ID {
		t.Fatalf("unpaid: %d %s", rec.Code, rec.Body)
	}
	pay(t, s, f.ID, f.Attributes.Price)
	etag := `"` + f.Attributes.CID + `"`

	rec = serve(t, s, request("GET", "/files/"+f.ID, "", nil))
	h := rec.Header()
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), content) || h.Get("Content-Length") != "1000" ||
		h.Get("ETag") != etag || h.Get("Content-Type") != "application/pdf" || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("GET: %d %v", rec.Code, h)
	}
	if cd := h.Get("Content-Disposition"); cd != `attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf` {
		t.Errorf("Content-Disposition %q", cd)
	}
	ranges := []struct {
		rng    string
		status int
		from   int
		to     int // inclusive
		cr     string
	}{
		{"bytes=0-9", 206, 0, 9, "bytes 0-9/1000"},
		{"bytes=990-", 206, 990, 999, "bytes 990-999/1000"},
		{"bytes=-5", 206, 995, 999, "bytes 995-999/1000"},
		{"bytes=500-5000", 206, 500, 999, "bytes 500-999/1000"},
		{"bytes=-5000", 206, 0, 999, "bytes 0-999/1000"},
		{"bytes=0-1,5-6", 200, 0, 999, ""},
		{"items=0-1", 200, 0, 999, ""},
		{"bytes=1000-", 416, 0, 0, "bytes */1000"},
		{"bytes=-0", 416, 0, 0, "bytes */1000"},
	}
	for _, r := range ranges {
		rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil, "Range", r.rng))
		if rec.Code != r.status || rec.Header().Get("Content-Range") != r.cr {
			t.Errorf("%s: %d %q", r.rng, rec.Code, rec.Header().Get("Content-Range"))
			continue
		}
		if r.status != 416 && !bytes.Equal(rec.Body.Bytes(), content[r.from:r.to+1]) {
			t.Errorf("%s: wrong bytes", r.rng)
		}
	}
	// If-Range with another validator: the whole file.
	if rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil, "Range", "bytes=0-9", "If-Range", `"other"`)); rec.Code != 200 {
		t.Errorf("If-Range mismatch: %d", rec.Code)
	}
	// If-None-Match.
	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		if rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil, "If-None-Match", inm)); rec.Code != 304 || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d", inm, rec.Code)
		}
	}
	if rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil, "If-None-Match", `"other"`)); rec.Code != 200 {
		t.Errorf("If-None-Match other: %d", rec.Code)
	}
	// HEAD: the same headers, no body.
	rec = serve(t, s, request("HEAD", "/files/"+f.ID, "", nil, "Range", "bytes=0-9"))
	if rec.Code != 206 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "10" || rec.Header().Get("ETag") != etag {
		t.Errorf("HEAD: %d %v", rec.Code, rec.Header())
	}
	// Gone.
	svc.mu.Lock()
	svc.files[f.ID].State = api.StateExpired
	svc.mu.Unlock()
	if rec := serve(t, s, request("GET", "/files/"+f.ID, "", nil)); rec.Code != 410 {
		t.Errorf("expired: %d", rec.Code)
	}
}

func TestPatchAndPayments(t *testing.T) {
	s, svc := newTestServer(t)
	f := upload(t, s, "p.txt", "patch me")
	patch := func(attrs string) *http.Request {
		return request("PATCH", "/files/"+strings.ToUpper(f.ID), api.MediaType, strings.NewReader(
			fmt.Sprintf(`{"data":{"type":"file","id":%q,"attributes":{%s}}}`, f.ID, attrs)))
	}
	rec := serve(t, s, patch(`"additional":{"owner":"bob","gone":null}`))
	if rec.Code != 200 || string(decode[api.Document[api.File]](t, rec).Data.Attributes.Additional["owner"]) != `"bob"` {
		t.Fatalf("patch additional: %d %s", rec.Code, rec.Body)
	}
	rec = pay(t, s, f.ID, f.Attributes.Price)
	if rec.Code != 201 {
		t.Fatalf("pay: %d %s", rec.Code, rec.Body)
	}
	p := decode[api.Document[api.Payment]](t, rec).Data
	if loc := rec.Header().Get("Location"); loc != "/payments/"+p.ID || p.Attributes.FileID != f.ID || p.Attributes.Amount != f.Attributes.Price {
		t.Errorf("payment %+v at %q", p, loc)
	}
	if rec := serve(t, s, request("GET", "/payments/"+p.ID, "", nil)); rec.Code != 200 || decode[api.Document[api.Payment]](t, rec).Data.ID != p.ID {
		t.Errorf("GET payment: %d %s", rec.Code, rec.Body)
	}
	if rec := pay(t, s, f.ID, f.Attributes.Price); rec.Code != 409 || decode[api.ErrorDocument](t, rec).Errors[0].Code != api.CodeAlreadyPaid {
		t.Errorf("second payment: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, s, patch(`"duration":5184000`))
	if rec.Code != 402 || decode[api.Document[api.File]](t, rec).Data.Attributes.State != api.StateExtensionQuoted {
		t.Fatalf("extend: %d %s", rec.Code, rec.Body)
	}
	// A quote that expired.
	svc.mu.Lock()
	svc.now = svc.now.Add(2 * time.Hour)
	svc.mu.Unlock()
	if rec := pay(t, s, f.ID, 1e9); rec.Code != 409 || decode[api.ErrorDocument](t, rec).Errors[0].Code != api.CodeQuoteExpired {
		t.Errorf("expired quote: %d %s", rec.Code, rec.Body)
	}
	// "type": "file" and status error cancel a quote.
	g := upload(t, s, "g.txt", "cancel me")
	body := fmt.Sprintf(`{"data":{"type":"file","attributes":{"file_id":%q,"status":"error"}}}`, g.ID)
	rec = serve(t, s, request("POST", "/payments", api.MediaType+`; profile="https://example.com/p"`, strings.NewReader(body), "Authorization", "Bearer "+testToken))
	if rec.Code != 201 || svc.files[g.ID].State != api.StateCancelled {
		t.Errorf("error payment: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, s, request("GET", "/payments/local?from=20261101&to=20261130", "", nil))
	lp := decode[api.Document[api.LocalPayment]](t, rec).Data
	if rec.Code != 200 || lp.ID != "20261101-20261130" || lp.Attributes.Amount != 1_250_000_000 || lp.Links.Self != "/payments/local?from=20261101&to=20261130" {
		t.Errorf("local payments: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"amount":1.25`) {
		t.Errorf("amount not in tokens: %s", rec.Body)
	}
}

func TestIdempotency(t *testing.T) {
	s, svc := newTestServer(t)
	body := jsonUpload("i.txt", b64("idempotent"), "")
	post := func(key, body string) *http.Request {
		return request("POST", "/files", api.MediaType, strings.NewReader(body), "Idempotency-Key", key)
	}
	first := serve(t, s, post("k1", body))
	again := serve(t, s, post("k1", body))
	if first.Code != 402 || again.Code != 402 || !bytes.Equal(first.Body.Bytes(), again.Body.Bytes()) || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d\n%s\n%s", first.Code, again.Code, first.Body, again.Body)
	}
	if svc.uploads != 1 {
		t.Errorf("%d uploads for one key", svc.uploads)
	}
	if rec := serve(t, s, post("k1", jsonUpload("other.txt", b64("idempotent"), ""))); rec.Code != 409 || decode[api.ErrorDocument](t, rec).Errors[0].Code != api.CodeIdempotencyKeyReused {
		t.Errorf("reuse: %d %s", rec.Code, rec.Body)
	}
	// The same key on another route is another key.
	f := decode[api.Document[api.File]](t, first).Data
	payBody := fmt.Sprintf(`{"data":{"type":"payment","attributes":{"file_id":%q,"status":"success","amount":%s}}}`, f.ID, f.Attributes.Price)
	payReq := func() *http.Request {
		return request("POST", "/payments", "application/json", strings.NewReader(payBody), "Authorization", "Bearer "+testToken, "Idempotency-Key", "k1")
	}
	p1, p2 := serve(t, s, payReq()), serve(t, s, payReq())
	if p1.Code != 201 || p2.Code != 201 || p1.Header().Get("Location") != p2.Header().Get("Location") || !bytes.Equal(p1.Body.Bytes(), p2.Body.Bytes()) {
		t.Errorf("payment replay: %d %d %s %s", p1.Code, p2.Code, p1.Body, p2.Body)
	}
	if len(svc.payments) != 1 {
		t.Errorf("%d payments", len(svc.payments))
	}

	// Concurrent requests with one key: one upload, one answer.
	const n = 8
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	codes := make([]int, n)
	big := jsonUpload("c.bin", b64(string(randomBytes(200<<10, 4))), "")
	for i := range n {
		wg.Go(func() {
			rec := serve(t, s, post("k-concurrent", big))
			codes[i], bodies[i] = rec.Code, rec.Body.Bytes()
		})
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 402 || !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("request %d: %d %s", i, codes[i], bodies[i])
		}
	}
	if svc.uploads != 2 {
		t.Errorf("%d uploads, want 2", svc.uploads)
	}
	// Octet-stream: the query is part of the request.
	oct := func(q string) *http.Request {
		return request("POST", "/files?"+q, "application/octet-stream", strings.NewReader("x"), "Idempotency-Key", "k-oct")
	}
	serve(t, s, oct("name=a"))
	if rec := serve(t, s, oct("name=b")); rec.Code != 409 {
		t.Errorf("other query, same key: %d", rec.Code)
	}
}

func TestPagination(t *testing.T) {
	s, _ := newTestServer(t)
	key := openAccount(t, s, "pager")
	up := func(name, content string) string {
		t.Helper()
		return decode[api.Document[api.File]](t, uploadAs(t, s, key, name, content, "")).Data.ID
	}
	upload(t, s, "not-mine", "z") // another's (nobody's) file is not listed
	var ids []string
	for i := range 7 {
		ids = append(ids, up(fmt.Sprintf("f%d", i), "x"))
	}
	var seen []string
	next := "/files?page[size]=3"
	for pages := 0; next != ""; pages++ {
		rec := serve(t, s, as(key, request("GET", next, "", nil)))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", next, rec.Code, rec.Body)
		}
		doc := decode[api.ListDocument[api.File]](t, rec)
		for _, f := range doc.Data {
			seen = append(seen, f.ID)
		}
		if pages == 0 {
			// Files added between pages come at the end; pages never shift.
			for i := range 3 {
				ids = append(ids, up(fmt.Sprintf("late%d", i), "y"))
			}
		}
		next = doc.Links.Next
		if pages > 10 {
			t.Fatal("too many pages")
		}
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Errorf("pages gave %v\nwant %v", seen, ids)
	}
	rec := serve(t, s, as(key, request("GET", "/files", "", nil)))
	if doc := decode[api.ListDocument[api.File]](t, rec); len(doc.Data) != 10 || doc.Links.Next != "" {
		t.Errorf("default page: %d files, next %q", len(doc.Data), doc.Links.Next)
	}
}

func TestServiceEndpoints(t *testing.T) {
	s, svc := newTestServer(t)
	rec := serve(t, s, request("GET", "/status", "", nil))
	if rec.Code != 200 || decode[api.Status](t, rec).Status != "up" {
		t.Errorf("status: %d %s", rec.Code, rec.Body)
	}
	svc.mu.Lock()
	svc.up = false
	svc.mu.Unlock()
	rec = serve(t, s, request("GET", "/status", "", nil))
	if st := decode[api.Status](t, rec); rec.Code != 503 || st.Status != "down" || st.Reason != "no billing quorum" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status down: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, s, request("GET", "/info", "", nil))
	if info := decode[api.Info](t, rec); rec.Code != 200 || info.Version != "v-test" || info.Prices.MaxTerm != svc.maxTerm || info.MaxUpload != 8<<20 {
		t.Errorf("info: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, s, request("GET", "/openapi.json", "", nil))
	if rec.Code != 200 || !json.Valid(rec.Body.Bytes()) || !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) {
		t.Errorf("openapi.json: %d", rec.Code)
	}
	upload(t, s, "m.txt", "metrics")
	rec = serve(t, s, request("GET", "/metrics", "", nil))
	for _, want := range []string{
		`dds_http_requests_total{code="402",method="POST",route="/files"} 1`,
		`dds_http_requests_total{code="200",method="GET",route="/info"} 1`,
		`dds_http_request_duration_seconds_count{route="/files"} 1`,
		`dds_http_request_bytes_total{route="/files"}`,
		`dds_http_response_bytes_total{route="/openapi.json"} ` + fmt.Sprint(len(api.OpenAPI)),
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.RateLimit, c.RateBurst = rate.Every(time.Hour), 2 })
	for i := range 2 {
		if rec := serve(t, s, request("GET", "/status", "", nil)); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := serve(t, s, request("GET", "/status", "", nil))
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || decode[api.ErrorDocument](t, rec).Errors[0].Code != api.CodeRateLimited {
		t.Errorf("third request: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	other := request("GET", "/status", "", nil)
	other.RemoteAddr = "198.51.100.7:4000"
	if rec := serve(t, s, other); rec.Code != 200 {
		t.Errorf("another client: %d", rec.Code)
	}
}

func TestNewChecksConfig(t *testing.T) {
	svc := newFakeService()
	base := DefaultConfig()
	base.Service, base.Records, base.BillingToken = svc, &fakeRecords{}, "t"
	for name, mod := range map[string]func(*Config){
		"no service": func(c *Config) { c.Service = nil },
		"no records": func(c *Config) { c.Records = nil },
		"no token":   func(c *Config) { c.BillingToken = "" },
		"no limit":   func(c *Config) { c.MaxUpload = 0 },
		"no burst":   func(c *Config) { c.RateBurst = 0 },
	} {
		c := base
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(base); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
