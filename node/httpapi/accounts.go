package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

// accountMe is the {id} of GET /accounts/{id} that names the account of
// the request's own key: `dds account show` knows the key, not the id.
const accountMe = "me"

// bearer returns the request's bearer token; ok false when the request
// has an Authorization header that is not a bearer token.
func bearer(r *http.Request) (token string, ok bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", true
	}
	scheme, token, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// unauthorized answers 401 with detail.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="dds"`)
	s.writeErrors(w, r, http.StatusUnauthorized, []api.Error{newError(http.StatusUnauthorized,
		api.CodeUnauthorized, detail, header("Authorization"))})
}

// caller authenticates the account API key a request carries as its
// bearer token: nobody when it carries none. false when the key is
// malformed or no account's (answered 401), or the node cannot tell now.
func (s *Server) caller(w http.ResponseWriter, r *http.Request) (node.Caller, bool) {
	token, ok := bearer(r)
	switch {
	case !ok:
		s.unauthorized(w, r, "the Authorization header must be a bearer token: an account's API key")
		return node.Caller{}, false
	case token == "":
		return node.Caller{}, true
	}
	by, err := s.svc.Authenticate(r.Context(), token)
	if err != nil {
		s.fail(w, r, err)
		return node.Caller{}, false
	}
	return by, true
}

// account is caller for what needs an account: a request with no key is
// answered 401.
func (s *Server) account(w http.ResponseWriter, r *http.Request, what string) (node.Caller, bool) {
	by, ok := s.caller(w, r)
	if ok && by.Account == "" {
		s.unauthorized(w, r, what+" needs an account's API key as the bearer token")
		return node.Caller{}, false
	}
	return by, ok
}

// mayRead checks that the caller may read f: anyone who has the id may,
// unless f is private (its owner's key only). It answers when not.
func (s *Server) mayRead(w http.ResponseWriter, r *http.Request, f node.File) bool {
	if !f.Private {
		return true
	}
	by, ok := s.account(w, r, "a private file")
	if !ok {
		return false
	}
	if by.Account != f.Owner {
		s.writeErrors(w, r, http.StatusForbidden, []api.Error{newError(http.StatusForbidden,
			api.CodeForbidden, "the file is private to another account", header("Authorization"))})
		return false
	}
	return true
}

func accountResource(a node.Account, key string) api.Resource[api.Account] {
	return api.Resource[api.Account]{
		Type: api.TypeAccount,
		ID:   a.ID,
		Attributes: api.Account{
			Name: a.Name, Balance: api.Tokens(a.Balance), StoredBytes: a.StoredBytes, Files: a.Files,
			Credits: a.Credits, CreatedAt: apiTime(a.OpenedAt), APIKey: key,
		},
		Links: &api.Links{Self: "/accounts/" + a.ID},
	}
}

// handleOpenAccount serves POST /accounts, for the payment processor.
func (s *Server) handleOpenAccount(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.idempotent(w, r, "accounts", func(w http.ResponseWriter, r *http.Request) {
		body, err := s.readDocument(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		name, errs := decodeAccount(body)
		if len(errs) > 0 {
			s.fail(w, r, refuse(errs))
			return
		}
		a, key, err := s.svc.OpenAccount(r.Context(), name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/accounts/"+a.ID)
		s.writeJSON(w, r, http.StatusCreated, api.MediaType, api.Document[api.Account]{Data: accountResource(a, key)})
	})
}

func decodeAccount(body []byte) (string, []api.Error) {
	res, attrs, errs := parseResource(body)
	if res == nil {
		return "", errs
	}
	if e := checkType(res, api.TypeAccount); e != nil {
		errs = append(errs, *e)
	}
	if attrs == nil {
		return "", errs
	}
	src := pointer("/data/attributes/name")
	raw, ok := attrs["name"]
	if !ok || isNull(raw) {
		return "", append(errs, fieldError(api.CodeRequired, "name is required", src))
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return "", append(errs, fieldError(api.CodeInvalidValue, "name must be a string", src))
	}
	if e := checkName(name, src); e != nil {
		errs = append(errs, *e)
	}
	return name, errs
}

// handleAccount serves GET /accounts/{id}: to the account's own key, or
// the billing token ("me": the key's own account).
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, _ := bearer(r)
	billing := token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.BillingToken)) == 1
	if !billing || id == accountMe {
		by, ok := s.account(w, r, "an account")
		if !ok {
			return
		}
		if id == accountMe {
			id = by.Account
		}
		if by.Account != id {
			s.writeErrors(w, r, http.StatusForbidden, []api.Error{newError(http.StatusForbidden,
				api.CodeForbidden, "the API key is another account's", header("Authorization"))})
			return
		}
	}
	pid, ok := parseID(id)
	if !ok {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	a, err := s.svc.Account(r.Context(), pid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, api.MediaType, api.Document[api.Account]{Data: accountResource(a, "")})
}

// handleDelete serves DELETE /files/{id}: the owner ends the lease.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	by, ok := s.account(w, r, "deleting a file")
	if !ok {
		return
	}
	if err := s.svc.Delete(r.Context(), id, by); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleS3Key serves POST /s3-keys: an S3 access key of this node's
// gateway for the caller's account.
func (s *Server) handleS3Key(w http.ResponseWriter, r *http.Request) {
	by, ok := s.account(w, r, "an S3 key")
	if !ok {
		return
	}
	if s.cfg.S3Endpoint == "" {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{newError(http.StatusNotFound, api.CodeNotFound,
			"this node serves no S3 gateway (dds daemon --s3-addr starts one)", nil)})
		return
	}
	k, err := s.svc.CreateS3Key(r.Context(), by)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, api.MediaType, api.Document[api.S3Key]{Data: api.Resource[api.S3Key]{
		Type: api.TypeS3Key, ID: k.AccessKeyID,
		Attributes: api.S3Key{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.Secret, Endpoint: s.cfg.S3Endpoint},
	}})
}

// fileStates are the values filter[state] takes.
var fileStates = []string{api.StateQuoted, api.StateStoring, api.StateStored, api.StateExtensionQuoted,
	api.StateExpired, api.StateCancelled, api.StateDeleted}

// listQuery is a checked GET /files query.
type listQuery struct {
	size  int
	after string
	state string
}

func parseListQuery(r *http.Request) (listQuery, []api.Error) {
	q := r.URL.Query()
	var errs []api.Error
	lq := listQuery{size: defaultPageSize}
	if v := q["page[size]"]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxPageSize {
			errs = append(errs, fieldError(api.CodeInvalidValue, fmt.Sprintf("page[size] must be a whole number from 1 to %d", maxPageSize), parameter("page[size]")))
		}
		lq.size = n
	}
	if v := q["page[after]"]; len(v) > 0 && v[0] != "" {
		c, ok := parseCursor(v[0])
		if !ok {
			errs = append(errs, fieldError(api.CodeInvalidValue, "page[after] must be a file id or a cursor from links.next", parameter("page[after]")))
		}
		lq.after = c
	}
	if v := q["filter[state]"]; len(v) > 0 {
		lq.state = v[0]
		if !contains(fileStates, lq.state) {
			errs = append(errs, fieldError(api.CodeInvalidValue, "filter[state] must be one of "+strings.Join(fileStates, ", "), parameter("filter[state]")))
		}
	}
	return lq, errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// link is the link of the page of q that starts after after.
func (q listQuery) link(after string) string {
	l := "/files?page[size]=" + strconv.Itoa(q.size)
	if q.state != "" {
		l += "&filter[state]=" + q.state
	}
	if after != "" {
		l += "&page[after]=" + after
	}
	return l
}
