package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
)

// TestRemoveMember: POST /members/{peer_id}/removal hands a well-formed
// removal to the node and answers 204; a malformed one is 400 with every
// problem, and the node's refusals map to 403 (not the admission key's)
// and 404 (not a member). No billing token is asked for: the signature is
// the authority.
func TestRemoveMember(t *testing.T) {
	s, svc := newTestServer(t)
	sig := base64.StdEncoding.EncodeToString(make([]byte, 64))
	doc := func(typ, at, sig string) string {
		return fmt.Sprintf(`{"data":{"type":%q,"attributes":{"at":%s,"signature":%s}}}`, typ, at, sig)
	}
	post := func(peer, body string) *http.Response {
		rec := serve(t, s, request("POST", "/members/"+peer+"/removal", api.MediaType, strings.NewReader(body)))
		return rec.Result()
	}
	if r := post("12D3KooWpeer", doc("removal", `"2026-12-07T10:00:00Z"`, `"`+sig+`"`)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("removal: %d", r.StatusCode)
	}
	if len(svc.removed) != 1 || svc.removed[0] != "12D3KooWpeer@2026-12-07T10:00:00Z:00000000" {
		t.Fatalf("the node got %v", svc.removed)
	}
	for _, c := range []struct {
		peer, body string
		status     int
		problems   int
	}{
		{"p", doc("payment", `"2026-12-07T10:00:00Z"`, `"`+sig+`"`), http.StatusConflict, 1}, // a type mismatch, as spec/api.md says
		{"p", doc("removal", `"yesterday"`, `"AAAA"`), http.StatusBadRequest, 2},
		{"p", `{"data":{"type":"removal","attributes":{}}}`, http.StatusBadRequest, 2},
		{"not-a-member", doc("removal", `"2026-12-07T10:00:00Z"`, `"`+sig+`"`), http.StatusNotFound, 1},
		{"forged", doc("removal", `"2026-12-07T10:00:00Z"`, `"`+sig+`"`), http.StatusForbidden, 1},
		{strings.Repeat("x", 300), doc("removal", `"2026-12-07T10:00:00Z"`, `"`+sig+`"`), http.StatusNotFound, 1},
	} {
		rec := serve(t, s, request("POST", "/members/"+c.peer+"/removal", api.MediaType, strings.NewReader(c.body)))
		if rec.Code != c.status {
			t.Fatalf("%s %s: %d %s, want %d", c.peer, c.body, rec.Code, rec.Body, c.status)
		}
		if errs := decode[api.ErrorDocument](t, rec).Errors; len(errs) != c.problems {
			t.Fatalf("%s %s: %d problems, want %d: %+v", c.peer, c.body, len(errs), c.problems, errs)
		}
	}
	if len(svc.removed) != 1 {
		t.Fatalf("refused removals reached the node: %v", svc.removed)
	}
}
