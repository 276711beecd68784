// Package httpapi serves the external HTTP API of a dds node (spec/api.md):
// it decodes and validates requests, calls the node through the small
// [Service] interface, and encodes JSON:API documents and errors.
//
// Use it as:
//
//	cfg := httpapi.DefaultConfig()
//	cfg.Service, cfg.Records = n, n.Records()
//	cfg.BillingToken = n.BillingToken()
//	cfg.Registry, cfg.Logger, cfg.Version = reg, logger, version
//	srv, err := httpapi.New(cfg)
//	if err != nil { ... }
//	http.ListenAndServe(addr, srv)
//
// Every route is a [net/http.ServeMux] pattern ("GET /files/{id}"); unknown
// paths and wrong methods answer JSON:API error documents (405 with Allow).
// Node errors are mapped to statuses and error codes in one place
// (errorResponse). Every client (remote IP) has a token bucket
// ([Config.RateLimit], [Config.RateBurst]); over it the answer is 429 with
// Retry-After.
//
// POST /files takes three forms: a JSON:API document whose base64 "data" is
// decoded as it streams (never held whole), raw bytes
// (application/octet-stream, attributes in the query and the X-Additional
// header), and multipart/form-data with a "file" part. When every attribute
// is known before the bytes begin, the bytes go straight into
// [Service.Upload]; when some attributes may follow the bytes (the usual
// order of a JSON document: name, data, duration), the decoded bytes are
// spooled (in memory up to a small bound, then to a temporary file in
// [Config.SpoolDir]) until the document has been read and validated, and then
// uploaded. Either way an invalid request is never quoted.
//
// POST /files and POST /payments honour an Idempotency-Key header: the first
// response is kept through [Records] and replayed for the same request; the
// same key with another request is 409 idempotencyKeyReused. The node's
// Records forget a key 24 hours after its first response (node.IdempotencyTTL).
//
// The server registers its metrics in [Config.Registry] (requests by route,
// method and status, latency by route, bytes in and out) and serves that
// registry on GET /metrics; GET /openapi.json serves [api.OpenAPI].
//
// GET /network is the network as the node sees it ([Service.Network]:
// members, reachability, this node's figures, recent events), public as
// /info is. GET / is the dashboard, a page embedded in the binary (with its
// script and style under /ui/) that polls GET /network and, with an
// account's key the user gives it, GET /files; a request that accepts JSON
// only still gets the 404 error document at /.
package httpapi
