package httpapi

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
)

func TestDashboardPageAndAssets(t *testing.T) {
	s, _ := newTestServer(t)

	for _, accept := range []string{"", "text/html,application/xhtml+xml,*/*;q=0.8", "*/*"} {
		rec := serve(t, s, request(http.MethodGet, "/", "", nil, "Accept", accept))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET / (Accept %q) -> %d %s", accept, rec.Code, rec.Header().Get("Content-Type"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
		if !strings.Contains(rec.Body.String(), "<title>dds network</title>") {
			t.Errorf("GET / body: %.200s", rec.Body)
		}
	}
	// An API client that asks for JSON keeps the answer it had before the page.
	for _, accept := range []string{api.MediaType, "application/json"} {
		rec := serve(t, s, request(http.MethodGet, "/", "", nil, "Accept", accept))
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != api.MediaType {
			t.Errorf("GET / (Accept %q) -> %d %s", accept, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	rec := serve(t, s, request(http.MethodPost, "/", api.MediaType, strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / -> %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	for _, p := range []string{"/ui/nothing.js", "/ui/index.html", "/ui/", "/index.html"} {
		if rec := serve(t, s, request(http.MethodGet, p, "", nil)); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s -> %d", p, rec.Code)
		}
	}

	// Every asset the page names is served with its type, and nothing any
	// file names comes from elsewhere (no CDN, no external font).
	page := string(must(fs.ReadFile(dashboardFiles, "dashboard/index.html")))
	refs := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("the page names %d assets under /ui/", len(refs))
	}
	types := map[string]string{".js": "text/javascript", ".css": "text/css"}
	for _, m := range refs {
		rec := serve(t, s, request(http.MethodGet, m[1], "", nil))
		ext := m[1][strings.LastIndexByte(m[1], '.'):]
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), types[ext]) || rec.Body.Len() == 0 {
			t.Errorf("GET %s -> %d %q, %d bytes", m[1], rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
	}
	external := regexp.MustCompile(`(?i)(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//`)
	err := fs.WalkDir(dashboardFiles, "dashboard", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if loc := external.FindString(string(must(fs.ReadFile(dashboardFiles, p)))); loc != "" {
			t.Errorf("%s loads from outside the node: %q", p, loc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWantsOnlyJSON(t *testing.T) {
	for _, c := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/vnd.api+json"}, true},
		{[]string{"application/json, text/plain"}, true},
		{[]string{"application/json", "text/html"}, false},
		{[]string{"application/json;q=1, */*;q=0.1"}, false},
		{[]string{"text/html"}, false},
		{[]string{"bogus;;"}, false},
	} {
		if got := wantsOnlyJSON(c.accept); got != c.want {
			t.Errorf("wantsOnlyJSON(%q) = %v", c.accept, got)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
