// Package apitest is test support for the client and the dds command: Node,
// an in-memory fake of a node's HTTP API that answers as spec/api.md says,
// with knobs to make it misbehave. Only tests import it; the product never does.
package apitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ddsnet/dds/api"
)

const Token = "s3cret"

type fakeFile struct {
	id    string
	attrs api.File
	data  []byte
	paid  bool
	polls int // info reads left before a storing file is stored
	// ext is the term an open extension quote asks for: as on a real
	// node, the file keeps its term until the quote is paid.
	ext int64
}

type Node struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	Files      map[string]*fakeFile
	order      []string
	Payments   map[string]api.Payment
	Keys       map[string][]byte // idempotency key -> the request body hash
	keyAnswers map[string]string // idempotency key -> file or payment id
	seq        int
	Down       bool
	Limited    bool                   // answer the next request with 429
	RetryAfter string                 // its Retry-After
	FailBody   bool                   // cut the next download short
	Requests   []string               // "METHOD path" of every request
	LastHeader http.Header            // headers of the last upload
	UploadLen  int64                  // ContentLength of the last upload
	StoreAfter int                    // info polls before a paid file becomes stored
	Network    *api.Network           // GET /network's answer; nil: 404, as an older node
	Removals   map[string]api.Removal // POST /members/{peer_id}/removal, by peer id
	NotMember  string                 // a peer id whose removal answers 404
	now        time.Time
}

func NewNode(t testing.TB) *Node {
	t.Helper()
	f := &Node{
		t:          t,
		Files:      map[string]*fakeFile{},
		Payments:   map[string]api.Payment{},
		Keys:       map[string][]byte{},
		keyAnswers: map[string]string{},
		Removals:   map[string]api.Removal{},
		StoreAfter: 2,
		RetryAfter: "7",
		now:        time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /files", f.upload)
	mux.HandleFunc("GET /files", f.list)
	mux.HandleFunc("GET /files/{id}", f.download)
	mux.HandleFunc("GET /files/{id}/info", f.info)
	mux.HandleFunc("PATCH /files/{id}", f.patch)
	mux.HandleFunc("POST /payments", f.pay)
	mux.HandleFunc("GET /payments/local", f.local)
	mux.HandleFunc("GET /payments/{id}", f.payment)
	mux.HandleFunc("GET /status", f.status)
	mux.HandleFunc("GET /info", f.serviceInfo)
	mux.HandleFunc("GET /network", f.network)
	mux.HandleFunc("POST /members/{peer_id}/removal", f.removeMember)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.Requests = append(f.Requests, r.Method+" "+r.URL.Path)
		limited, retry := f.Limited, f.RetryAfter
		f.Limited = false
		f.mu.Unlock()
		if limited {
			w.Header().Set("Retry-After", retry)
			writeErrors(w, http.StatusTooManyRequests, api.Error{Code: api.CodeRateLimited, Detail: "slow down"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *Node) URL() string { return f.srv.URL }

func writeDoc(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", api.MediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, status int, errs ...api.Error) {
	for i := range errs {
		errs[i].Status = strconv.Itoa(status)
		errs[i].Title = api.Titles[errs[i].Code]
	}
	writeDoc(w, status, api.ErrorDocument{Errors: errs})
}

func pointerErr(code, pointer, detail string) api.Error {
	return api.Error{Code: code, Detail: detail, Source: &api.Source{Pointer: pointer}}
}

func (ff *fakeFile) doc() api.Document[api.File] {
	return api.Document[api.File]{Data: api.Resource[api.File]{
		Type: api.TypeFile, ID: ff.id, Attributes: ff.attrs, Links: &api.Links{Self: "/files/" + ff.id}}}
}

// price is 1 nanotoken per byte per day of term, at least 1000.
func price(size, duration int64) api.Tokens {
	return api.Tokens(max(1000, size*max(duration/86400, 1)))
}

// idempotent reports a stored answer id for a reused key, or records key.
func (f *Node) idempotent(w http.ResponseWriter, r *http.Request, body []byte) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return "", false
	}
	sum := sha256.Sum256(append([]byte(r.URL.RawQuery), body...))
	if prev, ok := f.Keys[key]; ok {
		if !bytes.Equal(prev, sum[:]) {
			writeErrors(w, http.StatusConflict, api.Error{Code: api.CodeIdempotencyKeyReused, Detail: "key used with another body"})
			return "", true
		}
		return f.keyAnswers[key], true
	}
	f.Keys[key] = sum[:]
	return "", false
}

func (f *Node) upload(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var name string
	var duration int64 = 2592000
	var additional map[string]json.RawMessage
	var data []byte
	switch ct {
	case "application/octet-stream":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Detail: err.Error()})
			return
		}
		data = b
		name = r.URL.Query().Get("name")
		if d := r.URL.Query().Get("duration"); d != "" {
			v, err := strconv.ParseInt(d, 10, 64)
			if err != nil || v < 1 {
				writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidValue,
					Detail: "duration must be a positive whole number of seconds", Source: &api.Source{Parameter: "duration"}})
				return
			}
			duration = v
		}
		if h := r.Header.Get("X-Additional"); h != "" {
			if err := json.Unmarshal([]byte(h), &additional); err != nil {
				writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidValue,
					Detail: "X-Additional must be a JSON object", Source: &api.Source{Header: "X-Additional"}})
				return
			}
		}
	case api.MediaType, "application/json":
		var doc api.Document[api.FileUpload]
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Detail: "malformed JSON: " + err.Error()})
			return
		}
		b, err := base64.StdEncoding.DecodeString(doc.Data.Attributes.Data)
		if err != nil {
			writeErrors(w, http.StatusBadRequest, pointerErr(api.CodeInvalidValue, "/data/attributes/data", "data must be standard base64"))
			return
		}
		data = b
		name = doc.Data.Attributes.Name
		if doc.Data.Attributes.Duration != 0 {
			duration = doc.Data.Attributes.Duration
		}
		additional = doc.Data.Attributes.Additional
	default:
		writeErrors(w, http.StatusUnsupportedMediaType, api.Error{Code: api.CodeUnsupportedMediaType, Detail: "content type " + ct})
		return
	}
	if name == "" {
		writeErrors(w, http.StatusBadRequest, pointerErr(api.CodeRequired, "/data/attributes/name", "name is required"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.LastHeader = r.Header.Clone()
	f.UploadLen = r.ContentLength
	if id, done := f.idempotent(w, r, data); done {
		if id != "" {
			writeDoc(w, http.StatusPaymentRequired, f.Files[id].doc())
		}
		return
	}
	f.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
	sum := sha256.Sum256(data)
	exp := f.now.Add(time.Hour)
	created := f.now
	ff := &fakeFile{id: id, data: data, attrs: api.File{
		Name: name, Price: price(int64(len(data)), duration), Duration: duration, Additional: additional,
		CID: "bafk" + hex.EncodeToString(sum[:8]), Size: int64(len(data)), State: api.StateQuoted,
		QuoteExpiresAt: &exp, CreatedAt: &created, AttestedBy: []string{"12D3KooWfake"},
	}}
	f.Files[id] = ff
	f.order = append(f.order, id)
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		f.keyAnswers[key] = id
	}
	writeDoc(w, http.StatusPaymentRequired, ff.doc())
}

func (f *Node) file(w http.ResponseWriter, r *http.Request) *fakeFile {
	ff := f.Files[r.PathValue("id")]
	if ff == nil {
		writeErrors(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Detail: "no file " + r.PathValue("id")})
	}
	return ff
}

func (f *Node) info(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ff := f.file(w, r)
	if ff == nil {
		return
	}
	if ff.attrs.State == api.StateStoring {
		if ff.polls--; ff.polls <= 0 {
			ff.attrs.State = api.StateStored
			ff.attrs.Replicas = []string{"12D3KooWfake"}
		}
	}
	writeDoc(w, http.StatusOK, ff.doc())
}

func (f *Node) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size := 100
	if s := r.URL.Query().Get("page[size]"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidValue, Detail: "bad page size",
				Source: &api.Source{Parameter: "page[size]"}})
			return
		}
		size = v
	}
	start := 0
	if after := r.URL.Query().Get("page[after]"); after != "" {
		start = -1
		for i, id := range f.order {
			if id == after {
				start = i + 1
			}
		}
		if start < 0 {
			writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidValue, Detail: "bad cursor",
				Source: &api.Source{Parameter: "page[after]"}})
			return
		}
	}
	end := min(start+size, len(f.order))
	doc := api.ListDocument[api.File]{Data: []api.Resource[api.File]{}}
	for _, id := range f.order[start:end] {
		doc.Data = append(doc.Data, f.Files[id].doc().Data)
	}
	if end < len(f.order) {
		doc.Links.Next = fmt.Sprintf("/files?page%%5Bafter%%5D=%s&page%%5Bsize%%5D=%d", f.order[end-1], size)
	}
	writeDoc(w, http.StatusOK, doc)
}

func (f *Node) download(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ff := f.file(w, r)
	failBody := f.FailBody
	f.FailBody = false
	f.mu.Unlock()
	if ff == nil {
		return
	}
	if !ff.paid {
		writeDoc(w, http.StatusPaymentRequired, ff.doc())
		return
	}
	if failBody {
		w.Header().Set("Content-Length", strconv.Itoa(len(ff.data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ff.data[:len(ff.data)/2])
		http.NewResponseController(w).Flush() // else the transport retries the GET
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("ETag", `"`+ff.attrs.CID+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(ff.data))
}

func (f *Node) patch(w http.ResponseWriter, r *http.Request) {
	var doc api.Document[api.FilePatch]
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
		writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Detail: "malformed JSON"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ff := f.file(w, r)
	if ff == nil {
		return
	}
	if doc.Data.Type != api.TypeFile || doc.Data.ID != ff.id {
		writeErrors(w, http.StatusConflict, api.Error{Code: api.CodeConflict, Detail: "type or id mismatch"})
		return
	}
	for k, v := range doc.Data.Attributes.Additional {
		if ff.attrs.Additional == nil {
			ff.attrs.Additional = map[string]json.RawMessage{}
		}
		if string(v) == "null" {
			delete(ff.attrs.Additional, k)
		} else {
			ff.attrs.Additional[k] = v
		}
	}
	if d := doc.Data.Attributes.Duration; d != nil {
		if *d <= ff.attrs.Duration {
			writeErrors(w, http.StatusConflict, pointerErr(api.CodeConflict, "/data/attributes/duration",
				"the new term must be longer than the current one"))
			return
		}
		ff.attrs.Price = price(ff.attrs.Size, *d-ff.attrs.Duration)
		ff.ext = *d
		ff.attrs.State = api.StateExtensionQuoted
		writeDoc(w, http.StatusPaymentRequired, ff.doc())
		return
	}
	writeDoc(w, http.StatusOK, ff.doc())
}

// removeMember records a removal; the signature is the real node's ledger
// to check, the test's to read from Removals.
func (f *Node) removeMember(w http.ResponseWriter, r *http.Request) {
	var doc api.Document[api.Removal]
	if err := json.NewDecoder(r.Body).Decode(&doc); err != nil || doc.Data.Type != api.TypeRemoval {
		writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Detail: "not a removal document"})
		return
	}
	id := r.PathValue("peer_id")
	f.mu.Lock()
	notMember := f.NotMember
	f.mu.Unlock()
	if id == notMember {
		writeErrors(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Detail: id + " is not a member"})
		return
	}
	f.mu.Lock()
	f.Removals[id] = doc.Data.Attributes
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *Node) pay(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeErrors(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthorized, Detail: "bearer token required"})
		return
	}
	if auth != "Bearer "+Token {
		writeErrors(w, http.StatusForbidden, api.Error{Code: api.CodeForbidden, Detail: "wrong billing token"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var doc api.Document[api.Payment]
	if err := json.Unmarshal(body, &doc); err != nil {
		writeErrors(w, http.StatusBadRequest, api.Error{Code: api.CodeInvalidRequest, Detail: "malformed JSON: " + err.Error()})
		return
	}
	p := doc.Data.Attributes
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, done := f.idempotent(w, r, body); done {
		if id != "" {
			w.Header().Set("Location", "/payments/"+id)
			writeDoc(w, http.StatusCreated, api.Document[api.Payment]{Data: api.Resource[api.Payment]{
				Type: api.TypePayment, ID: id, Attributes: f.Payments[id], Links: &api.Links{Self: "/payments/" + id}}})
		}
		return
	}
	ff := f.Files[p.FileID]
	switch {
	case ff == nil:
		writeErrors(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Detail: "no file " + p.FileID})
		return
	case ff.attrs.State != api.StateQuoted && ff.attrs.State != api.StateExtensionQuoted:
		writeErrors(w, http.StatusConflict, api.Error{Code: api.CodeAlreadyPaid, Detail: "no open quote"})
		return
	case p.Status == api.PaymentSuccess && p.Amount < ff.attrs.Price:
		writeErrors(w, http.StatusBadRequest, pointerErr(api.CodeAmountTooLow, "/data/attributes/amount",
			"amount "+p.Amount.String()+" is below the price "+ff.attrs.Price.String()))
		return
	case p.Status == api.PaymentError:
		ff.attrs.State = api.StateCancelled
	case p.Status == api.PaymentSuccess && ff.attrs.State == api.StateExtensionQuoted:
		if ff.attrs.ExpiresAt != nil {
			end := ff.attrs.ExpiresAt.Add(time.Duration(ff.ext-ff.attrs.Duration) * time.Second)
			ff.attrs.ExpiresAt = &end
		}
		ff.attrs.Duration, ff.ext = ff.ext, 0
		ff.attrs.State = api.StateStored
	case p.Status == api.PaymentSuccess:
		ff.paid = true
		ff.attrs.State = api.StateStoring
		ff.polls = f.StoreAfter
		// The lease starts at the payment (stored_at, as the ledger has it).
		start := f.now
		end := start.Add(time.Duration(ff.attrs.Duration) * time.Second)
		ff.attrs.StoredAt, ff.attrs.ExpiresAt = &start, &end
	default:
		writeErrors(w, http.StatusBadRequest, pointerErr(api.CodeInvalidValue, "/data/attributes/status", "status must be success or error"))
		return
	}
	f.seq++
	id := fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", f.seq)
	f.Payments[id] = p
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		f.keyAnswers[key] = id
	}
	w.Header().Set("Location", "/payments/"+id)
	writeDoc(w, http.StatusCreated, api.Document[api.Payment]{Data: api.Resource[api.Payment]{
		Type: api.TypePayment, ID: id, Attributes: p, Links: &api.Links{Self: "/payments/" + id}}})
}

func (f *Node) payment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	p, ok := f.Payments[id]
	if !ok {
		writeErrors(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Detail: "no payment " + id})
		return
	}
	writeDoc(w, http.StatusOK, api.Document[api.Payment]{Data: api.Resource[api.Payment]{
		Type: api.TypePayment, ID: id, Attributes: p, Links: &api.Links{Self: "/payments/" + id}}})
}

func (f *Node) local(w http.ResponseWriter, r *http.Request) {
	var errs []api.Error
	var days [2]time.Time
	for i, p := range []string{"from", "to"} {
		t, err := time.Parse("20060102", r.URL.Query().Get(p))
		if err != nil {
			errs = append(errs, api.Error{Code: api.CodeInvalidValue, Detail: p + " must be yyyymmdd",
				Source: &api.Source{Parameter: p}})
		}
		days[i] = t
	}
	if len(errs) == 0 && days[1].Before(days[0]) {
		errs = append(errs, api.Error{Code: api.CodeInvalidValue, Detail: "to is before from", Source: &api.Source{Parameter: "to"}})
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var lp api.LocalPayment
	for _, ff := range f.Files {
		if ff.paid {
			lp.Amount += ff.attrs.Price
			lp.Size += ff.attrs.Size
		}
	}
	q := r.URL.Query()
	id := q.Get("from") + "-" + q.Get("to")
	writeDoc(w, http.StatusOK, api.Document[api.LocalPayment]{Data: api.Resource[api.LocalPayment]{
		Type: api.TypeLocalPayment, ID: id, Attributes: lp,
		Links: &api.Links{Self: "/payments/local?from=" + q.Get("from") + "&to=" + q.Get("to")}}})
}

func (f *Node) status(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.Down
	f.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", api.MediaType)
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"down","reason":"no billing quorum","errors":[{"status":"503",`+
			`"code":"unavailable","title":"Service unavailable","detail":"no billing quorum"}]}`)
		return
	}
	writeDoc(w, http.StatusOK, api.Status{Status: "up", Leader: "12D3KooWfake", Index: 42})
}

func (f *Node) network(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	nw := f.Network
	f.mu.Unlock()
	if nw == nil {
		writeErrors(w, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Detail: "no such path"})
		return
	}
	writeDoc(w, http.StatusOK, api.Document[api.Network]{Data: api.Resource[api.Network]{Type: api.TypeNetwork, ID: nw.PeerID, Attributes: *nw}})
}

func (f *Node) serviceInfo(w http.ResponseWriter, r *http.Request) {
	writeDoc(w, http.StatusOK, api.Info{
		Name: "dds", Description: "fake node", Version: "test", PeerID: "12D3KooWfake",
		Addrs:    []string{"/ip4/127.0.0.1/tcp/7071"},
		Prices:   api.PriceTable{Rate: 1_000_000, MinimumPrice: 1000, QuoteLifetime: 3600, MaxTerm: 31536000},
		Replicas: 1, ChunkSize: 1 << 20, Capacity: 100 << 30, Free: 99 << 30, Stored: 1 << 30,
		MaxUpload: 10 << 30, Dev: true, Threshold: 3,
		Quorum: []api.Member{{PeerID: "12D3KooWfake", PublicKey: "AAAA", Role: "voter", HTTP: f.srv.URL}},
	})
}

// setPaid marks a file paid and stored, for download tests.
func (f *Node) SetPaid(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Files[id].paid = true
	f.Files[id].attrs.State = api.StateStored
}

func (f *Node) Set(fn func(*Node)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *Node) RequestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Requests...)
}

// Close stops the fake's server, as if the node went away.
func (f *Node) Close() { f.srv.Close() }
