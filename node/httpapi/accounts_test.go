package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
)

// openAccount opens an account through the API and returns its API key.
func openAccount(t testing.TB, s *Server, name string) string {
	t.Helper()
	a := openAccountResource(t, s, name)
	return a.Attributes.APIKey
}

func openAccountResource(t testing.TB, s *Server, name string) api.Resource[api.Account] {
	t.Helper()
	body := fmt.Sprintf(`{"data":{"type":"account","attributes":{"name":%q}}}`, name)
	rec := serve(t, s, request("POST", "/accounts", api.MediaType, strings.NewReader(body), "Authorization", "Bearer "+testToken))
	if rec.Code != http.StatusCreated {
		t.Fatalf("open account: %d %s", rec.Code, rec.Body)
	}
	a := decode[api.Document[api.Account]](t, rec).Data
	if a.Attributes.APIKey == "" || rec.Header().Get("Location") != "/accounts/"+a.ID {
		t.Fatalf("open account: %+v, Location %q", a, rec.Header().Get("Location"))
	}
	return a
}

// as sends r with key as its bearer token.
func as(key string, r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+key)
	return r
}

// uploadAs uploads content named name as the account of key, with the
// query q ("" for none), and returns the answer.
func uploadAs(t testing.TB, s *Server, key, name, content, q string) *httptest.ResponseRecorder {
	t.Helper()
	path := "/files?name=" + name
	if q != "" {
		path += "&" + q
	}
	return serve(t, s, as(key, request("POST", path, "application/octet-stream", strings.NewReader(content))))
}

func credit(t testing.TB, s *Server, account string, amount api.Tokens) {
	t.Helper()
	body := fmt.Sprintf(`{"data":{"type":"payment","attributes":{"account_id":%q,"status":"success","amount":%s}}}`, account, amount)
	rec := serve(t, s, request("POST", "/payments", api.MediaType, strings.NewReader(body), "Authorization", "Bearer "+testToken))
	if rec.Code != http.StatusCreated {
		t.Fatalf("credit: %d %s", rec.Code, rec.Body)
	}
	if p := decode[api.Document[api.Payment]](t, rec).Data; p.Attributes.AccountID != account || p.Attributes.FileID != "" {
		t.Fatalf("credit: %+v", p)
	}
}

func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if code != "" {
		doc := decode[api.ErrorDocument](t, rec)
		if len(doc.Errors) == 0 || doc.Errors[0].Code != code {
			t.Fatalf("errors %+v, want %s", doc.Errors, code)
		}
	}
}

func TestOpenAndShowAccount(t *testing.T) {
	s, _ := newTestServer(t)
	body := `{"data":{"type":"account","attributes":{"name":"alice"}}}`
	wantStatus(t, serve(t, s, request("POST", "/accounts", api.MediaType, strings.NewReader(body))), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, request("POST", "/accounts", api.MediaType, strings.NewReader(body), "Authorization", "Bearer nope")), 403, api.CodeForbidden)
	for name, bad := range map[string]string{
		"no name":    `{"data":{"type":"account","attributes":{}}}`,
		"wrong type": `{"data":{"type":"file","attributes":{"name":"a"}}}`,
		"control":    `{"data":{"type":"account","attributes":{"name":"a\nb"}}}`,
		"not string": `{"data":{"type":"account","attributes":{"name":7}}}`,
	} {
		rec := serve(t, s, request("POST", "/accounts", api.MediaType, strings.NewReader(bad), "Authorization", "Bearer "+testToken))
		if rec.Code != 400 && rec.Code != 409 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	alice := openAccountResource(t, s, "alice")
	bob := openAccountResource(t, s, "bob")
	get := func(id, token string) *httptest.ResponseRecorder {
		r := request("GET", "/accounts/"+id, "", nil)
		if token != "" {
			r = as(token, r)
		}
		return serve(t, s, r)
	}
	for _, c := range []struct {
		id, token string
		status    int
	}{
		{alice.ID, alice.Attributes.APIKey, 200},
		{"me", alice.Attributes.APIKey, 200},
		{alice.ID, testToken, 200},
		{alice.ID, bob.Attributes.APIKey, 403},
		{alice.ID, "", 401},
		{alice.ID, "dds_unknown", 401},
		{"me", testToken, 401},
	} {
		rec := get(c.id, c.token)
		if rec.Code != c.status {
			t.Fatalf("GET /accounts/%s with %.8q: %d, want %d: %s", c.id, c.token, rec.Code, c.status, rec.Body)
		}
		if rec.Code == 200 {
			a := decode[api.Document[api.Account]](t, rec).Data
			if a.ID != alice.ID || a.Attributes.Name != "alice" || a.Attributes.APIKey != "" {
				t.Fatalf("account: %+v", a)
			}
		}
	}
	wantStatus(t, get("0b9f3a5e-2c1d-4e8f-9a7b-6c5d4e3f2a1b", testToken), 404, api.CodeNotFound)
}

// Two accounts never see or change each other's files; a private file
// needs its owner's key; the balance pays at once or answers 402.
func TestAccountsOwnTheirFiles(t *testing.T) {
	s, svc := newTestServer(t)
	alice := openAccountResource(t, s, "alice")
	aliceKey, bobKey := alice.Attributes.APIKey, openAccount(t, s, "bob")

	rec := uploadAs(t, s, aliceKey, "a.txt", "alice's bytes", "pay=balance")
	wantStatus(t, rec, http.StatusPaymentRequired, "") // an empty balance
	quoted := decode[api.Document[api.File]](t, rec).Data
	credit(t, s, alice.ID, 1_000_000_000)
	rec = uploadAs(t, s, aliceKey, "b.txt", "alice's private bytes", "pay=balance&private=true")
	wantStatus(t, rec, http.StatusAccepted, "")
	doc := decode[api.UploadDocument](t, rec)
	priv := doc.Data
	if priv.Attributes.State != api.StateStoring || !priv.Attributes.Private || len(doc.Included) != 1 ||
		doc.Included[0].Attributes.FromAccount != alice.ID || doc.Included[0].Attributes.FileID != priv.ID {
		t.Fatalf("paid upload: %+v", doc)
	}
	// The JSON form takes the same as attributes.
	body := `{"data":{"type":"file","attributes":{"name":"c.txt","private":true,"pay_from_balance":true,"data":"` + b64("json") + `"}}}`
	wantStatus(t, serve(t, s, as(aliceKey, request("POST", "/files", api.MediaType, strings.NewReader(body)))), http.StatusAccepted, "")
	bobs := decode[api.Document[api.File]](t, uploadAs(t, s, bobKey, "d.txt", "bob's", "")).Data

	list := func(key, q string) []string {
		r := request("GET", "/files"+q, "", nil)
		rec := serve(t, s, as(key, r))
		wantStatus(t, rec, 200, "")
		var ids []string
		for _, f := range decode[api.ListDocument[api.File]](t, rec).Data {
			ids = append(ids, f.ID)
		}
		return ids
	}
	if ids := list(aliceKey, ""); len(ids) != 3 || ids[0] != quoted.ID {
		t.Fatalf("alice lists %v", ids)
	}
	if ids := list(aliceKey, "?filter[state]=quoted"); len(ids) != 1 || ids[0] != quoted.ID {
		t.Fatalf("alice's quoted files: %v", ids)
	}
	if ids := list(bobKey, ""); len(ids) != 1 || ids[0] != bobs.ID {
		t.Fatalf("bob lists %v", ids)
	}
	wantStatus(t, serve(t, s, request("GET", "/files", "", nil)), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, as("dds_wrong", request("GET", "/files", "", nil))), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, request("GET", "/files", "", nil, "Authorization", "Basic eDp5")), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, as(aliceKey, request("GET", "/files?filter[state]=odd", "", nil))), 400, api.CodeInvalidValue)

	// A private file: its owner only; others' files: anyone with the id.
	for _, path := range []string{"/files/" + priv.ID, "/files/" + priv.ID + "/info"} {
		wantStatus(t, serve(t, s, request("GET", path, "", nil)), 401, api.CodeUnauthorized)
		wantStatus(t, serve(t, s, as(bobKey, request("GET", path, "", nil))), 403, api.CodeForbidden)
		wantStatus(t, serve(t, s, as(aliceKey, request("GET", path, "", nil))), 200, "")
	}
	wantStatus(t, serve(t, s, request("GET", "/files/"+bobs.ID+"/info", "", nil)), 200, "")
	wantStatus(t, uploadAs(t, s, aliceKey, "e.txt", "x", "private=yes"), 400, api.CodeInvalidValue)
	wantStatus(t, uploadAs(t, s, aliceKey, "e.txt", "x", "pay=card"), 400, api.CodeInvalidValue)

	// Changes of attributes need the owner; an extension is anyone's to pay.
	patch := fmt.Sprintf(`{"data":{"type":"file","id":%q,"attributes":{"additional":{"k":1}}}}`, bobs.ID)
	wantStatus(t, serve(t, s, request("PATCH", "/files/"+bobs.ID, api.MediaType, strings.NewReader(patch))), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, as(aliceKey, request("PATCH", "/files/"+bobs.ID, api.MediaType, strings.NewReader(patch)))), 403, api.CodeForbidden)
	wantStatus(t, serve(t, s, as(bobKey, request("PATCH", "/files/"+bobs.ID, api.MediaType, strings.NewReader(patch)))), 200, "")
	ext := fmt.Sprintf(`{"data":{"type":"file","id":%q,"attributes":{"duration":99999999}}}`, bobs.ID)
	wantStatus(t, serve(t, s, request("PATCH", "/files/"+bobs.ID, api.MediaType, strings.NewReader(ext))), 402, "")

	// Deletes: the owner's key only.
	before := svc.state()
	wantStatus(t, serve(t, s, request("DELETE", "/files/"+priv.ID, "", nil)), 401, api.CodeUnauthorized)
	wantStatus(t, serve(t, s, as(bobKey, request("DELETE", "/files/"+priv.ID, "", nil))), 403, api.CodeForbidden)
	if after := svc.state(); after != before {
		t.Fatal("a refused delete changed the state")
	}
	wantStatus(t, serve(t, s, as(aliceKey, request("DELETE", "/files/"+priv.ID, "", nil))), 204, "")
	wantStatus(t, serve(t, s, as(aliceKey, request("POST", "/s3-keys", "", nil))), 404, api.CodeNotFound) // no gateway here
	wantStatus(t, serve(t, s, as(aliceKey, request("GET", "/files/"+priv.ID, "", nil))), 410, api.CodeGone)
}
