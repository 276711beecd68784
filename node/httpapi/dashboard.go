package httpapi

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/ddsnet/dds/api"
)

// dashboardFiles are the dashboard's page and assets: plain HTML, CSS and
// JavaScript in the binary, so that a node needs no build step, no CDN and
// no files beside it to show one.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardCSP lets the page load only what the node serves: its own
// script and style, and requests to its own API.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handleDashboard serves GET /: the dashboard's page. An API client that
// asks for JSON only gets the 404 error document it got before the page
// existed: / is no resource of the API.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	if wantsOnlyJSON(r.Header.Values("Accept")) {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	s.serveDashboardFile(w, r, "index.html")
}

// handleDashboardAsset serves GET /ui/{file}: the page's script and style.
func (s *Server) handleDashboardAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || !fs.ValidPath(name) {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	s.serveDashboardFile(w, r, name)
}

func (s *Server) serveDashboardFile(w http.ResponseWriter, r *http.Request, name string) {
	b, err := dashboardFiles.ReadFile(path.Join("dashboard", name))
	if err != nil {
		s.writeErrors(w, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	// The assets change with the binary only; no-cache revalidates them
	// after an upgrade without a versioned path.
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// wantsOnlyJSON reports whether an Accept header names JSON types and no
// HTML (nor any type at all: "*/*", as curl sends, gets the page).
func wantsOnlyJSON(accept []string) bool {
	json := false
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch {
			case mt == "text/html" || mt == "*/*" || mt == "text/*":
				return false
			case mt == "application/json" || mt == "application/vnd.api+json":
				json = true
			}
		}
	}
	return json
}
