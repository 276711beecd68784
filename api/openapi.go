package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the external HTTP API
// (spec/api.md), served on GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
