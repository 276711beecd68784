package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ddsnet/dds/api"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

var openAPI struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadOpenAPI loads and validates api.OpenAPI once.
func loadOpenAPI(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	openAPI.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPI)
		if err != nil {
			openAPI.err = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			openAPI.err = err
			return
		}
		openAPI.doc = doc
		openAPI.router, openAPI.err = legacy.NewRouter(doc)
	})
	if openAPI.err != nil {
		t.Fatalf("load OpenAPI document: %v", openAPI.err)
	}
	return openAPI.doc, openAPI.router
}

func TestOpenAPIDocumentLoads(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	for _, p := range []string{"/files", "/files/{id}", "/files/{id}/info", "/payments", "/payments/{id}", "/payments/local", "/status", "/healthz", "/readyz", "/info", "/network", "/", "/ui/{file}", "/metrics", "/openapi.json"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("path %s missing", p)
		}
	}
}

// checkResponse validates a response against the OpenAPI document: its
// operation's declared response, or (for unknown paths and methods) the
// error document schema.
func checkResponse(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	doc, router := loadOpenAPI(t)
	body := rec.Body.Bytes()
	route, params, err := router.FindRoute(req)
	if err != nil {
		// Unknown path or method: must be a JSON:API error document.
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusTooManyRequests {
			t.Errorf("%s %s: no route in the OpenAPI document (%v) for status %d", req.Method, req.URL, err, rec.Code)
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s %s: error body is not JSON: %v", req.Method, req.URL, err)
			return
		}
		schema := doc.Components.Schemas["ErrorDocument"].Value
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s %s: error document invalid: %v", req.Method, req.URL, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s -> %d: response does not match the OpenAPI document: %v\nbody: %.500s", req.Method, req.URL, rec.Code, err, body)
	}
}
