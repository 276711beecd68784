package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// request builds a request; hdr is pairs of header name and value.
func request(method, target, ct string, body io.Reader, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, body)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// serve runs one request through s and validates the response against
// the OpenAPI document.
func serve(t testing.TB, s *Server, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	checkResponse(t, r, rec)
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s %s: no X-Content-Type-Options: nosniff", r.Method, r.URL)
	}
	if rec.Code >= 400 && rec.Header().Get("Content-Type") != api.MediaType {
		t.Errorf("%s %s -> %d with Content-Type %q", r.Method, r.URL, rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, rec.Body.Bytes())
	}
	return v
}

func jsonUpload(name, data string, extra string) string {
	return fmt.Sprintf(`{"data":{"type":"file","attributes":{"name":%q,"data":%q%s}}}`, name, data, extra)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// upload posts a JSON upload and returns the quoted file.
func upload(t testing.TB, s *Server, name, content string) api.Resource[api.File] {
	t.Helper()
	rec := serve(t, s, request("POST", "/files", api.MediaType, strings.NewReader(jsonUpload(name, b64(content), ""))))
	if rec.Code != http.StatusPaymentRequired {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	return decode[api.Document[api.File]](t, rec).Data
}

func pay(t testing.TB, s *Server, id string, amount api.Tokens) *httptest.ResponseRecorder {
	t.Helper()
	body := fmt.Sprintf(`{"data":{"type":"payment","attributes":{"file_id":%q,"status":"success","amount":%s}}}`, id, amount)
	return serve(t, s, request("POST", "/payments", "application/json", strings.NewReader(body), "Authorization", "Bearer "+testToken))
}

func multipartBody(t testing.TB, parts [][2]string, filename string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p[0] == "file" {
			w, err = mw.CreateFormFile("file", filename)
		} else {
			w, err = mw.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[1])
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// chunked hides a body's length, as a chunked request does.
type chunked struct{ io.Reader }

func TestBadRequests(t *testing.T) {
	small := func(c *Config) { c.MaxUpload = 1 << 20 }
	t.Run("fake", func(t *testing.T) {
		s, svc := newTestServer(t, small)
		badRequests(t, s, svc.maxTerm, svc.state)
	})
	t.Run("node", func(t *testing.T) {
		s, n := newNodeServer(t, small)
		state := func() string {
			if _, err := n.CollectGarbage(t.Context()); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("ledger %x, stored %d bytes", n.LedgerHash(), n.Info(t.Context()).Stored)
		}
		badRequests(t, s, n.Info(t.Context()).Prices.MaxTerm, state)
	})
}

// badRequests sends the table of bad requests to s and checks each answer,
// and that none of them changed the node's state.
func badRequests(t *testing.T, s *Server, maxTerm int64, state func() string) {
	q := upload(t, s, "q.txt", "quoted file").ID
	const unknown = "0b9f3a5e-2c1d-4e8f-9a7b-6c5d4e3f2a1b"
	// A refusal stored under an idempotency key, reused below with another body.
	if rec := pay(t, s, q, 1); rec.Code != http.StatusBadRequest {
		t.Fatalf("low payment: %d", rec.Code)
	}
	lowPay := fmt.Sprintf(`{"data":{"type":"payment","attributes":{"file_id":%q,"status":"success","amount":0.000000001}}}`, q)
	rec := serve(t, s, request("POST", "/payments", "application/json", strings.NewReader(lowPay), "Authorization", "Bearer "+testToken, "Idempotency-Key", "k-reused"))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("keyed low payment: %d %s", rec.Code, rec.Body)
	}
	key := openAccount(t, s, "lister")
	keyed := []string{"Authorization", "Bearer " + key}
	before := state()

	big := strings.Repeat("x", 2<<20)
	manyKeys := make([]string, 65)
	for i := range manyKeys {
		manyKeys[i] = fmt.Sprintf(`"k%d":1`, i)
	}
	attrs := func(s string) string { return `{"data":{"type":"file","attributes":{` + s + `}}}` }
	patch := func(s string) string { return fmt.Sprintf(`{"data":{"type":"file","id":%q,"attributes":{%s}}}`, q, s) }
	payDoc := func(typ, s string) string { return fmt.Sprintf(`{"data":{"type":%q,"attributes":{%s}}}`, typ, s) }
	okPay := fmt.Sprintf(`"file_id":%q,"status":"success"`, q)
	mpNoFile, mpNoFileBody := multipartBody(t, [][2]string{{"name", "x"}}, "")
	mpDur, mpDurBody := multipartBody(t, [][2]string{{"file", "abc"}, {"duration", "0"}}, "f.txt")
	auth := []string{"Authorization", "Bearer " + testToken}
	P := func(p string) *api.Source { return &api.Source{Pointer: p} }
	Q := func(p string) *api.Source { return &api.Source{Parameter: p} }
	H := func(p string) *api.Source { return &api.Source{Header: p} }
	A := "/data/attributes/"

	// A 413 says what the limit is: a client cannot act on a bare one.
	namesLimit := func(t *testing.T, rec *httptest.ResponseRecorder) {
		if want := "the upload is larger than this node's limit of 1048576 bytes (1 MiB)"; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("413 without %q: %s", want, rec.Body)
		}
	}
	namesMaxTerm := func(t *testing.T, rec *httptest.ResponseRecorder) {
		if want := fmt.Sprintf("duration must be at most %d seconds (%s, the network's maximum term)", maxTerm, time.Duration(maxTerm)*time.Second); !strings.Contains(rec.Body.String(), want) {
			t.Errorf("no %q: %s", want, rec.Body)
		}
	}
	tests := []struct {
		name         string
		method, path string
		ct           string
		body         io.Reader
		hdr          []string
		status       int
		code         string
		src          *api.Source
		check        func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{"malformed JSON", "POST", "/files", api.MediaType, strings.NewReader(`{"data":`), nil, 400, api.CodeInvalidRequest, nil, nil},
		{"truncated JSON in data", "POST", "/files", api.MediaType, strings.NewReader(`{"data":{"type":"file","attributes":{"name":"a","data":"QUJD`), nil, 400, api.CodeInvalidRequest, nil, nil},
		{"document not an object", "POST", "/files", api.MediaType, strings.NewReader(`[1,2]`), nil, 400, api.CodeInvalidRequest, nil, nil},
		{"data missing", "POST", "/files", api.MediaType, strings.NewReader(`{}`), nil, 400, api.CodeRequired, P("/data"), nil},
		{"data not an object", "POST", "/files", api.MediaType, strings.NewReader(`{"data":"x"}`), nil, 400, api.CodeInvalidRequest, P("/data"), nil},
		{"attributes missing", "POST", "/files", api.MediaType, strings.NewReader(`{"data":{"type":"file"}}`), nil, 400, api.CodeRequired, P("/data/attributes"), nil},
		{"name missing", "POST", "/files", api.MediaType, strings.NewReader(attrs(`"data":"QUJD"`)), nil, 400, api.CodeRequired, P(A + "name"), nil},
		{"name empty", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("", "QUJD", "")), nil, 400, api.CodeTooShort, P(A + "name"), nil},
		{"name too long", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload(strings.Repeat("n", 256), "QUJD", "")), nil, 400, api.CodeTooLong, P(A + "name"), nil},
		{"name with control character", "POST", "/files", api.MediaType, strings.NewReader(attrs(`"name":"a\u0007b","data":"QUJD"`)), nil, 400, api.CodeInvalidValue, P(A + "name"), nil},
		{"name not a string", "POST", "/files", api.MediaType, strings.NewReader(attrs(`"name":12,"data":"QUJD"`)), nil, 400, api.CodeInvalidValue, P(A + "name"), nil},
		{"data attribute missing", "POST", "/files", api.MediaType, strings.NewReader(attrs(`"name":"a"`)), nil, 400, api.CodeRequired, P(A + "data"), nil},
		{"bad base64", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "!!!!", "")), nil, 400, api.CodeInvalidValue, P(A + "data"), nil},
		{"truncated base64", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJ", "")), nil, 400, api.CodeInvalidValue, P(A + "data"), nil},
		{"data not a string", "POST", "/files", api.MediaType, strings.NewReader(attrs(`"name":"a","data":5`)), nil, 400, api.CodeInvalidValue, P(A + "data"), nil},
		{"duration zero", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"duration":0`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"duration negative", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"duration":-5`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"duration fractional", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"duration":1.5`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"duration string", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"duration":"100"`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"duration over max term", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", fmt.Sprintf(`,"duration":%d`, maxTerm+1))), nil, 400, api.CodeInvalidValue, P(A + "duration"), namesMaxTerm},
		{"duration huge", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"duration":1e999`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"duration past int64", "POST", "/files?name=a&duration=99999999999999999999", "application/octet-stream", strings.NewReader("abc"), nil, 400, api.CodeInvalidValue, Q("duration"), namesMaxTerm},
		{"additional not an object", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"additional":[1]`)), nil, 400, api.CodeInvalidValue, P(A + "additional"), nil},
		{"additional too many keys", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"additional":{`+strings.Join(manyKeys, ",")+`}`)), nil, 400, api.CodeInvalidValue, P(A + "additional"), nil},
		{"additional too big", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"additional":{"k":"`+strings.Repeat("v", 17<<10)+`"}`)), nil, 400, api.CodeTooLong, P(A + "additional"), nil},
		{"wrong resource type", "POST", "/files", api.MediaType, strings.NewReader(`{"data":{"type":"payment","attributes":{"name":"a","data":"QUJD"}}}`), nil, 409, api.CodeConflict, P("/data/type"), nil},
		{"type missing", "POST", "/files", api.MediaType, strings.NewReader(`{"data":{"attributes":{"name":"a","data":"QUJD"}}}`), nil, 400, api.CodeRequired, P("/data/type"), nil},
		{"duplicate member", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", `,"name":"b"`)), nil, 400, api.CodeInvalidRequest, P(A + "name"), nil},
		{"data after the document", "POST", "/files", api.MediaType, strings.NewReader(jsonUpload("a", "QUJD", "") + " x"), nil, 400, api.CodeInvalidRequest, nil, nil},
		{"text/plain upload", "POST", "/files", "text/plain", strings.NewReader("abc"), nil, 415, api.CodeUnsupportedMediaType, H("Content-Type"), nil},
		{"no Content-Type", "POST", "/files", "", strings.NewReader("abc"), nil, 415, api.CodeUnsupportedMediaType, nil, nil},
		{"JSON:API media type with charset", "POST", "/files", api.MediaType + "; charset=utf-8", strings.NewReader(jsonUpload("a", "QUJD", "")), nil, 415, api.CodeUnsupportedMediaType, nil, nil},
		{"JSON:API media type with an extension", "POST", "/files", api.MediaType + `; ext="https://jsonapi.org/ext/atomic"`, strings.NewReader(jsonUpload("a", "QUJD", "")), nil, 415, api.CodeUnsupportedMediaType, nil, nil},
		{"octet-stream without name", "POST", "/files", "application/octet-stream", strings.NewReader("abc"), nil, 400, api.CodeRequired, Q("name"), nil},
		{"octet-stream bad duration", "POST", "/files?name=a&duration=abc", "application/octet-stream", strings.NewReader("abc"), nil, 400, api.CodeInvalidValue, Q("duration"), nil},
		{"octet-stream bad X-Additional", "POST", "/files?name=a", "application/octet-stream", strings.NewReader("abc"), []string{"X-Additional", "{nope"}, 400, api.CodeInvalidValue, H("X-Additional"), nil},
		{"octet-stream over limit (Content-Length)", "POST", "/files?name=a", "application/octet-stream", strings.NewReader(big), nil, 413, api.CodePayloadTooLarge, nil, namesLimit},
		{"octet-stream over limit (chunked)", "POST", "/files?name=a", "application/octet-stream", chunked{strings.NewReader(big)}, nil, 413, api.CodePayloadTooLarge, nil, namesLimit},
		{"JSON data over limit (chunked)", "POST", "/files", api.MediaType, chunked{strings.NewReader(jsonUpload("a", b64(big[:1<<20+10]), ""))}, nil, 413, api.CodePayloadTooLarge, nil, namesLimit},
		{"multipart without file", "POST", "/files", mpNoFile, mpNoFileBody, nil, 400, api.CodeRequired, Q("file"), nil},
		{"multipart without boundary", "POST", "/files", "multipart/form-data", strings.NewReader("x"), nil, 400, api.CodeInvalidRequest, H("Content-Type"), nil},
		{"multipart duration zero", "POST", "/files", mpDur, mpDurBody, nil, 400, api.CodeInvalidValue, Q("duration"), nil},
		{"patch id mismatch", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(fmt.Sprintf(`{"data":{"type":"file","id":%q,"attributes":{"duration":99999999}}}`, unknown)), nil, 409, api.CodeConflict, P("/data/id"), nil},
		{"patch wrong type", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(fmt.Sprintf(`{"data":{"type":"payment","id":%q,"attributes":{"duration":99999999}}}`, q)), nil, 409, api.CodeConflict, P("/data/type"), nil},
		{"patch id missing", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(`{"data":{"type":"file","attributes":{"duration":99999999}}}`), nil, 400, api.CodeRequired, P("/data/id"), nil},
		{"patch duration zero", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(patch(`"duration":0`)), nil, 400, api.CodeInvalidValue, P(A + "duration"), nil},
		{"patch additional a string", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(patch(`"additional":"x"`)), nil, 400, api.CodeInvalidValue, P(A + "additional"), nil},
		{"patch nothing to change", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(patch(``)), nil, 400, api.CodeRequired, P("/data/attributes"), nil},
		{"patch shorter term", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(patch(`"duration":60`)), nil, 409, api.CodeConflict, nil, nil},
		{"patch malformed", "PATCH", "/files/" + q, api.MediaType, strings.NewReader(`{"data":{`), nil, 400, api.CodeInvalidRequest, nil, nil},
		{"patch wrong Content-Type", "PATCH", "/files/" + q, "text/plain", strings.NewReader(patch(`"duration":99999999`)), nil, 415, api.CodeUnsupportedMediaType, nil, nil},
		{"patch id not a UUID", "PATCH", "/files/xyz", api.MediaType, strings.NewReader(patch(`"duration":99999999`)), nil, 404, api.CodeNotFound, nil, nil},
		{"patch unknown file", "PATCH", "/files/" + unknown, api.MediaType, strings.NewReader(strings.Replace(patch(`"duration":99999999`), q, unknown, 1)), nil, 404, api.CodeNotFound, nil, nil},
		{"file id not a UUID", "GET", "/files/not-a-uuid", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"escaped path traversal", "GET", "/files/..%2F..%2Fetc%2Fpasswd", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"path traversal", "GET", "/files/../../etc/passwd", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"info of unknown file", "GET", "/files/" + unknown + "/info", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"payment without token", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":1`)), nil, 401, api.CodeUnauthorized, nil,
			func(t *testing.T, rec *httptest.ResponseRecorder) {
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
				}
			}},
		{"payment with wrong token", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":1`)), []string{"Authorization", "Bearer nope"}, 403, api.CodeForbidden, nil, func(t *testing.T, rec *httptest.ResponseRecorder) {
			// Tokens are per node: the README once took node0's to node2.
			if want := "is not the billing token of this node (example.com): every node has its own"; !strings.Contains(rec.Body.String(), want) {
				t.Errorf("403 without %q: %s", want, rec.Body)
			}
		}},
		{"amount negative", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":-1`)), auth, 400, api.CodeInvalidValue, P(A + "amount"), nil},
		{"amount with 10 decimals", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":0.0000000001`)), auth, 400, api.CodeInvalidValue, P(A + "amount"), nil},
		{"amount a string", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":"1"`)), auth, 400, api.CodeInvalidValue, P(A + "amount"), nil},
		{"amount below price", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":0.000000002`)), auth, 400, api.CodeAmountTooLow, P(A + "amount"), nil},
		{"processor signature not base64", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":1,"processor_signature":"%%%"`)), auth, 400, api.CodeInvalidValue, P(A + "processor_signature"), nil},
		{"processor signature too short", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":1,"processor_signature":"AAEC"`)), auth, 400, api.CodeInvalidValue, P(A + "processor_signature"), nil},
		{"unknown payment status", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", fmt.Sprintf(`"file_id":%q,"status":"maybe","amount":1`, q))), auth, 400, api.CodeInvalidValue, P(A + "status"), nil},
		{"file_id not a UUID", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", `"file_id":"abc","status":"success","amount":1`)), auth, 400, api.CodeInvalidValue, P(A + "file_id"), nil},
		{"file_id missing", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", `"status":"success","amount":1`)), auth, 400, api.CodeRequired, P(A + "file_id"), nil},
		{"payment of wrong type", "POST", "/payments", "application/json", strings.NewReader(payDoc("local_payment", okPay+`,"amount":1`)), auth, 409, api.CodeConflict, P("/data/type"), nil},
		{"payment for unknown file", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", fmt.Sprintf(`"file_id":%q,"status":"success","amount":1`, unknown))), auth, 404, api.CodeNotFound, nil, nil},
		{"payment wrong Content-Type", "POST", "/payments", "application/xml", strings.NewReader("<x/>"), auth, 415, api.CodeUnsupportedMediaType, nil, nil},
		{"payment reused idempotency key", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":0.000000003`)), append([]string{"Idempotency-Key", "k-reused"}, auth...), 409, api.CodeIdempotencyKeyReused, H("Idempotency-Key"), nil},
		{"idempotency key too long", "POST", "/payments", "application/json", strings.NewReader(payDoc("payment", okPay+`,"amount":1`)), append([]string{"Idempotency-Key", strings.Repeat("k", 256)}, auth...), 400, api.CodeInvalidValue, H("Idempotency-Key"), nil},
		{"payment id not a UUID", "GET", "/payments/xyz", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"unknown payment", "GET", "/payments/" + unknown, "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"local payments bad month", "GET", "/payments/local?from=20261301&to=20261302", "", nil, nil, 400, api.CodeInvalidValue, Q("from"), nil},
		{"local payments February 30", "GET", "/payments/local?from=20260201&to=20260230", "", nil, nil, 400, api.CodeInvalidValue, Q("to"), nil},
		{"local payments reversed", "GET", "/payments/local?from=20261130&to=20261101", "", nil, nil, 400, api.CodeInvalidValue, Q("to"), nil},
		{"local payments missing from", "GET", "/payments/local?to=20261101", "", nil, nil, 400, api.CodeRequired, Q("from"), nil},
		{"local payments not digits", "GET", "/payments/local?from=2026-1-1&to=20261101", "", nil, nil, 400, api.CodeInvalidValue, Q("from"), nil},
		{"page size zero", "GET", "/files?page[size]=0", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[size]"), nil},
		{"page size too big", "GET", "/files?page[size]=1001", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[size]"), nil},
		{"page size not a number", "GET", "/files?page[size]=ten", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[size]"), nil},
		{"page cursor not a UUID", "GET", "/files?page[after]=abc", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[after]"), nil},
		{"page cursor unknown", "GET", "/files?page[after]=" + unknown, "", nil, keyed, 400, api.CodeInvalidValue, Q("page[after]"), nil},
		{"page cursor bad time", "GET", "/files?page[after]=" + unknown + "~12x", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[after]"), nil},
		{"page cursor negative time", "GET", "/files?page[after]=" + unknown + "~-1", "", nil, keyed, 400, api.CodeInvalidValue, Q("page[after]"), nil},
		{"PUT a file", "PUT", "/files/" + q, "", nil, nil, 405, api.CodeMethodNotAllowed, nil,
			func(t *testing.T, rec *httptest.ResponseRecorder) {
				if a := rec.Header().Get("Allow"); a != "GET, HEAD, PATCH, DELETE" {
					t.Errorf("Allow = %q", a)
				}
			}},
		{"PUT /payments", "PUT", "/payments", "", nil, nil, 405, api.CodeMethodNotAllowed, nil,
			func(t *testing.T, rec *httptest.ResponseRecorder) {
				if a := rec.Header().Get("Allow"); a != "POST" {
					t.Errorf("Allow = %q", a)
				}
			}},
		{"POST /payments/local", "POST", "/payments/local", "", nil, nil, 405, api.CodeMethodNotAllowed, nil,
			func(t *testing.T, rec *httptest.ResponseRecorder) {
				if a := rec.Header().Get("Allow"); a != "GET, HEAD" {
					t.Errorf("Allow = %q", a)
				}
			}},
		{"unknown path", "GET", "/nope", "", nil, nil, 404, api.CodeNotFound, nil, nil},
		{"trailing slash", "GET", "/files/", "", nil, nil, 404, api.CodeNotFound, nil, nil},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, tt.path, tt.ct, tt.body, tt.hdr...)
			if _, ok := tt.body.(chunked); ok {
				r.ContentLength = -1
			}
			rec := serve(t, s, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			doc := decode[api.ErrorDocument](t, rec)
			found := false
			for _, e := range doc.Errors {
				if e.Code == tt.code && (tt.src == nil || e.Source != nil && *e.Source == *tt.src) {
					found = true
				}
				if e.Title != api.Titles[e.Code] {
					t.Errorf("title %q for %s", e.Title, e.Code)
				}
			}
			if !found {
				t.Errorf("no error %s at %+v in %s", tt.code, tt.src, rec.Body)
			}
			if tt.check != nil {
				tt.check(t, rec)
			}
		})
	}
	if after := state(); after != before {
		t.Errorf("the bad requests changed the node:\nbefore %s\nafter  %s", before, after)
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	s, _ := newTestServer(t)
	for _, body := range []string{
		// attributes before and after the data
		`{"data":{"type":"file","attributes":{"name":"","duration":0,"data":"!!","additional":5}}}`,
		`{"data":{"type":"file","attributes":{"data":"!!","name":"","duration":0,"additional":5}}}`,
	} {
		rec := serve(t, s, request("POST", "/files", "application/json", strings.NewReader(body)))
		if rec.Code != 400 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		got := map[string]string{}
		for _, e := range decode[api.ErrorDocument](t, rec).Errors {
			got[e.Source.Pointer] = e.Code
		}
		want := map[string]string{
			"/data/attributes/name": api.CodeTooShort, "/data/attributes/duration": api.CodeInvalidValue,
			"/data/attributes/data": api.CodeInvalidValue, "/data/attributes/additional": api.CodeInvalidValue,
		}
		for p, c := range want {
			if got[p] != c {
				t.Errorf("%s: got %q, want %q (all: %v)", p, got[p], c, got)
			}
		}
	}
	body := `{"data":{"type":"payment","attributes":{"file_id":"x","status":"maybe","amount":-1}}}`
	rec := serve(t, s, request("POST", "/payments", "application/json", strings.NewReader(body), "Authorization", "Bearer "+testToken))
	if n := len(decode[api.ErrorDocument](t, rec).Errors); rec.Code != 400 || n != 3 {
		t.Errorf("payment: %d with %d errors: %s", rec.Code, n, rec.Body)
	}
}

// TestTimesWholeSeconds checks that the API shows the ledger's times
// (nanoseconds inside) as RFC 3339 in UTC with whole seconds.
func TestTimesWholeSeconds(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 15, 0, 227291660, time.FixedZone("x", 3600))
	f := fileResource(node.File{ID: "id", QuoteExpiresAt: at, CreatedAt: at, ExpiresAt: at, StoredAt: at})
	p := paymentResource(node.Payment{ID: "p", CreatedAt: at})
	for _, v := range []any{f, p} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"2026-11-22T09:15:00Z"`) || strings.Contains(string(b), ".227") {
			t.Fatalf("times not whole seconds in UTC: %s", b)
		}
	}
	if apiTime(time.Time{}) != nil {
		t.Fatal("the zero time is shown")
	}
}

// The node's errors read "conflict: the new term ..."; the error object
// carries the kind in its code, so the detail must not repeat it (dds
// printed "conflict: conflict: ...").
func TestErrorDetailsDoNotRepeatTheKind(t *testing.T) {
	for _, kind := range []error{node.ErrConflict, node.ErrInvalid, node.ErrForbidden, node.ErrUnauthorized, node.ErrTooLarge} {
		err := fmt.Errorf("%w: the reason", kind)
		_, errs := errorResponse(err)
		if len(errs) != 1 || errs[0].Detail != "the reason" {
			t.Errorf("%v: %+v, want the detail %q", err, errs, "the reason")
		}
	}
}
