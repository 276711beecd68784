package httpapi

import (
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// Pagination of GET /files.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// fileResource is a node file as a JSON:API resource.
func fileResource(f node.File) api.Resource[api.File] {
	return api.Resource[api.File]{
		Type: api.TypeFile,
		ID:   f.ID,
		Attributes: api.File{
			Name:           f.Name,
			Price:          api.Tokens(f.Price),
			Duration:       f.Duration,
			Additional:     f.Additional,
			CID:            f.CID,
			Size:           f.Size,
			State:          f.State,
			QuoteExpiresAt: apiTime(f.QuoteExpiresAt),
			StoredAt:       apiTime(f.StoredAt),
			ExpiresAt:      apiTime(f.ExpiresAt),
			Replicas:       f.Replicas,
			AttestedBy:     f.AttestedBy,
			CreatedAt:      apiTime(f.CreatedAt),
			Private:        f.Private,
		},
		Links: &api.Links{Self: "/files/" + f.ID},
	}
}

// apiTime is t as the API shows times: RFC 3339 in UTC, whole seconds
// (the ledger keeps nanoseconds); nil for the zero time.
func apiTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func paymentResource(p node.Payment) api.Resource[api.Payment] {
	created := apiTime(p.CreatedAt)
	return api.Resource[api.Payment]{
		Type: api.TypePayment,
		ID:   p.ID,
		Attributes: api.Payment{
			FileID: p.FileID, Status: p.Status, Amount: api.Tokens(p.Amount), CreatedAt: created,
			ReceivedBy: p.ReceivedBy, AccountID: p.AccountID, FromAccount: p.FromAccount,
		},
		Links: &api.Links{Self: "/payments/" + p.ID},
	}
}

func (s *Server) writeFile(w http.ResponseWriter, r *http.Request, status int, f node.File) {
	s.writeJSON(w, r, status, api.MediaType, api.Document[api.File]{Data: fileResource(f)})
}

// pathID is the {id} of the path in canonical form; false (and a 404
// answered) when it is not a UUID.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()})
	}
	return id, ok
}

// readDocument reads a small JSON request document.
func (s *Server) readDocument(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	if r.ContentLength > maxDocument {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDocument))
	if err != nil {
		return nil, (&bodyErr{err: err}).failure()
	}
	return b, nil
}

// handleList serves GET /files: a page of the caller's files after a
// cursor (an account's API key is needed: nobody sees others' files).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	by, ok := s.account(w, r, "listing files")
	if !ok {
		return
	}
	q, errs := parseListQuery(r)
	if len(errs) > 0 {
		s.fail(w, r, refuse(errs))
		return
	}
	files, next, err := s.svc.AccountFiles(r.Context(), by.Account, q.after, q.size, q.state)
	if errors.Is(err, node.ErrNotFound) {
		err = refuse([]api.Error{fieldError(api.CodeInvalidValue, "page[after] is not a known file of this account", parameter("page[after]"))})
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc := api.ListDocument[api.File]{Data: make([]api.Resource[api.File], 0, len(files))}
	for _, f := range files {
		doc.Data = append(doc.Data, fileResource(f))
	}
	doc.Links.Self = q.link(url.QueryEscape(q.after))
	if next != "" {
		doc.Links.Next = q.link(url.QueryEscape(next))
	}
	s.writeJSON(w, r, http.StatusOK, api.MediaType, doc)
}

// parseCursor checks a page cursor: a file id, or a file id, "~" and its
// creation time in Unix nanoseconds (what links.next carries, so that a
// page still starts in its place after the file before it was forgotten).
func parseCursor(s string) (string, bool) {
	idPart, created, found := strings.Cut(s, "~")
	id, ok := parseID(idPart)
	if !ok {
		return "", false
	}
	if !found {
		return id, true
	}
	n, err := strconv.ParseInt(created, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != created {
		return "", false
	}
	return id + "~" + created, true
}

// handleInfo serves GET /files/{id}/info.
func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	f, err := s.svc.File(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.mayRead(w, r, f) {
		return
	}
	s.writeFile(w, r, http.StatusOK, f)
}

// handlePatch serves PATCH /files/{id}.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	body, err := s.readDocument(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, errs := decodePatch(body, id, func() int64 { return s.svc.MaxTerm(r.Context()) })
	if len(errs) > 0 {
		s.fail(w, r, refuse(errs))
		return
	}
	if p.By, ok = s.caller(w, r); !ok {
		return
	}
	f, quoted, err := s.svc.Patch(r.Context(), id, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if quoted {
		status = http.StatusPaymentRequired
	}
	s.writeFile(w, r, status, f)
}

// handlePay serves POST /payments, for the payment processor.
func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.idempotent(w, r, "payments", func(w http.ResponseWriter, r *http.Request) {
		body, err := s.readDocument(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req, errs := decodePayment(body)
		if len(errs) > 0 {
			s.fail(w, r, refuse(errs))
			return
		}
		p, err := s.svc.Pay(r.Context(), req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/payments/"+p.ID)
		s.writeJSON(w, r, http.StatusCreated, api.MediaType, api.Document[api.Payment]{Data: paymentResource(p)})
	})
}

// authorized checks the billing bearer token: missing is 401, wrong 403.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(auth, " ")
	if auth == "" || !found || !strings.EqualFold(scheme, "Bearer") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dds"`)
		s.writeErrors(w, r, http.StatusUnauthorized, []api.Error{newError(http.StatusUnauthorized,
			api.CodeUnauthorized, "a billing bearer token is required", header("Authorization"))})
		return false
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.cfg.BillingToken)) != 1 {
		s.writeErrors(w, r, http.StatusForbidden, []api.Error{newError(http.StatusForbidden,
			api.CodeForbidden, "the bearer token is not the billing token of this node ("+r.Host+"): every node has its own "+
				"(in its data dir's billing.token; dds testnet lists each node's in testnet.json)", header("Authorization"))})
		return false
	}
	return true
}

// handlePayment serves GET /payments/{id}.
func (s *Server) handlePayment(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	p, err := s.svc.Payment(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, api.MediaType, api.Document[api.Payment]{Data: paymentResource(p)})
}

// handleLocalPayments serves GET /payments/local?from=yyyymmdd&to=yyyymmdd.
func (s *Server) handleLocalPayments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []api.Error
	day := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			errs = append(errs, fieldError(api.CodeRequired, name+" is required (yyyymmdd)", parameter(name)))
			return time.Time{}
		}
		t, err := time.Parse("20060102", v)
		if err != nil || len(v) != 8 || !allDigits(v) {
			errs = append(errs, fieldError(api.CodeInvalidValue, name+" must be a date written yyyymmdd", parameter(name)))
			return time.Time{}
		}
		return t
	}
	from, to := day("from"), day("to")
	if len(errs) == 0 && to.Before(from) {
		errs = append(errs, fieldError(api.CodeInvalidValue, "to must not be before from", parameter("to")))
	}
	if len(errs) > 0 {
		s.fail(w, r, refuse(errs))
		return
	}
	rep, err := s.svc.LocalPayments(r.Context(), from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, t := from.Format("20060102"), to.Format("20060102")
	s.writeJSON(w, r, http.StatusOK, api.MediaType, api.Document[api.LocalPayment]{Data: api.Resource[api.LocalPayment]{
		Type:       api.TypeLocalPayment,
		ID:         f + "-" + t,
		Attributes: api.LocalPayment{Amount: api.Tokens(rep.Amount), Size: rep.Size},
		Links:      &api.Links{Self: "/payments/local?from=" + f + "&to=" + t},
	}})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// statusDown is the body of a 503 GET /status: the status and, as every
// 5xx, a JSON:API error list.
type statusDown struct {
	api.Status
	Errors []api.Error `json:"errors"`
}

// handleStatus serves GET /status.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.svc.Status(r.Context())
	body := api.Status{Status: "up", Reason: st.Reason, Leader: st.Leader, Index: st.Index, Storage: "ok"}
	if st.DiskFull {
		body.Storage = "full"
	}
	if st.Up {
		body.Reason = ""
		s.writeJSON(w, r, http.StatusOK, "application/json", body)
		return
	}
	body.Status = "down"
	if body.Reason == "" {
		body.Reason = "the node cannot serve writes now"
	}
	w.Header().Set("Retry-After", "1")
	s.writeJSON(w, r, http.StatusServiceUnavailable, api.MediaType, statusDown{Status: body, Errors: []api.Error{
		newError(http.StatusServiceUnavailable, api.CodeUnavailable, body.Reason, nil)}})
}

// handleNodeInfo serves GET /info.
func (s *Server) handleNodeInfo(w http.ResponseWriter, r *http.Request) {
	info := s.svc.Info(r.Context())
	if s.cfg.Version != "" {
		info.Version = s.cfg.Version
	}
	if info.MaxUpload == 0 {
		info.MaxUpload = s.cfg.MaxUpload
	}
	s.writeJSON(w, r, http.StatusOK, "application/json", info)
}

// handleOpenAPI serves GET /openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(api.OpenAPI)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(api.OpenAPI)
}

// handleRemoveMember serves POST /members/{peer_id}/removal: a removal
// signed by the network's admission key ends a membership. The signature
// is the authority (the ledger checks it on every replica), so no token is
// asked for.
func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("peer_id")
	if id == "" || len(id) > maxPeerIDLen {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()}) // no such member
		return
	}
	body, err := s.readDocument(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at, sig, errs := decodeRemoval(body)
	if len(errs) > 0 {
		s.fail(w, r, refuse(errs))
		return
	}
	if err := s.svc.RemoveMember(r.Context(), id, at, sig); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
