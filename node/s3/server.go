package s3

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ddsnet/dds/internal/httpguard"
	"github.com/ddsnet/dds/internal/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Config configures a [Handler]. Start from [DefaultConfig].
type Config struct {
	Backend Backend
	// BaseDomains enable virtual-host-style addressing: a request to
	// "bucket.<base domain>[:port]" names that bucket. Any other host is
	// path-style ("/bucket/key").
	BaseDomains []string
	// Region is what GetBucketLocation answers. Requests signed for any
	// region are accepted: clients sign with whatever they were told.
	Region string
	// MaxObjectSize bounds a PutObject body and a part (S3: 5 GiB).
	MaxObjectSize int64
	// RateLimit per client IP; 0 or rate.Inf: no limit. Over it: SlowDown.
	RateLimit rate.Limit
	RateBurst int
	// Stall bounds a body that stops moving, and a client that stops
	// reading a response: at least progressBytes must move within each
	// Stall, or the connection is cut. Zero: 30 s.
	Stall time.Duration
	// Registry gets the handler's metrics; nil: a private registry.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// Now is the clock signatures are checked against (tests move it).
	Now func() time.Time
}

// S3's limits.
const (
	maxSinglePut = 5 << 30
	minPartSize  = 5 << 20
	maxParts     = 10000
	maxKeyLength = 1024
	maxUserMeta  = 2 << 10
	maxXMLBody   = 2 << 20 // DeleteObjects with 1,000 keys of 1,024 bytes fits
	maxListKeys  = 1000
)

// DefaultConfig: region us-east-1, 5 GiB objects, 1000 requests/s per
// client with a burst of 2000.
func DefaultConfig() Config {
	return Config{
		Region:        "us-east-1",
		MaxObjectSize: maxSinglePut,
		RateLimit:     1000,
		RateBurst:     2000,
		Stall:         30 * time.Second,
		Logger:        slog.Default(),
		Now:           time.Now,
	}
}

// Handler serves the S3 REST API over a [Backend]. It is an [http.Handler].
type Handler struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	limiter *ratelimit.Table
	metrics *metrics
}

// ErrNoBackend is [New]'s answer to a Config without a Backend.
var ErrNoBackend = errors.New("s3: config has no backend")

// maxClients bounds the rate limiter's table of clients.
const maxClients = 16384

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Backend == nil {
		return nil, ErrNoBackend
	}
	def := DefaultConfig()
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = def.MaxObjectSize
	}
	if cfg.RateLimit < 0 || (cfg.RateLimit > 0 && cfg.RateLimit != rate.Inf && cfg.RateBurst < 1) {
		return nil, fmt.Errorf("s3: rate limit %v with burst %d", cfg.RateLimit, cfg.RateBurst)
	}
	if cfg.Stall <= 0 {
		cfg.Stall = def.Stall
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	for i, d := range cfg.BaseDomains {
		cfg.BaseDomains[i] = strings.ToLower(strings.Trim(d, "."))
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("s3: register metrics: %w", err)
	}
	h := &Handler{cfg: cfg, backend: cfg.Backend, log: cfg.Logger.With("sys", "s3"), metrics: m}
	if cfg.RateLimit > 0 && cfg.RateLimit != rate.Inf {
		h.limiter = ratelimit.New(cfg.RateLimit, cfg.RateBurst, maxClients)
	}
	return h, nil
}

// request is one S3 request after authentication.
type request struct {
	*http.Request
	id     *identity
	bucket string
	key    string
	query  url.Values
	reqID  string
}

// resource is the bucket/key the request names, for error documents.
func (rq *request) resource() string {
	if rq.key != "" {
		return "/" + rq.bucket + "/" + rq.key
	}
	return "/" + rq.bucket
}

// ServeHTTP serves one request: rate limit, authenticate, route, handle,
// measure, log.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	gw, in := httpguard.Guard(w, r, h.cfg.Stall)
	rw := &responseWriter{ResponseWriter: gw}
	rq := &request{Request: r, reqID: newRequestID()}
	rq.bucket, rq.key = h.address(r)
	rq.query = r.URL.Query()
	rw.Header().Set("X-Amz-Request-Id", rq.reqID)
	rw.Header().Set("X-Amz-Id-2", rq.reqID)
	rw.Header().Set("Server", "dds")

	op, fn := h.route(rq)
	defer func() {
		elapsed := time.Since(start)
		status := rw.Status
		if status == 0 {
			status = http.StatusOK
		}
		code := rw.code
		if code == "" {
			code = "OK"
		}
		h.metrics.observe(op, code, in.N, rw.N, elapsed)
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "s3 request",
			slog.String("op", op), slog.String("method", r.Method), slog.String("bucket", rq.bucket),
			slog.Int("status", status), slog.String("code", code), slog.String("request_id", rq.reqID),
			slog.Int64("bytes_in", in.N), slog.Int64("bytes_out", rw.N), slog.Duration("duration", elapsed))
	}()

	if h.limiter != nil {
		if ok, _ := h.limiter.Allow(clientIP(r), time.Now()); !ok {
			h.writeError(rw, rq, errSlowDown)
			return
		}
	}
	id, err := h.authenticate(r.Context(), r)
	if err != nil {
		h.writeError(rw, rq, err)
		return
	}
	rq.id = id
	if err := fn(rw, rq); err != nil {
		h.writeError(rw, rq, err)
	}
}

// address finds the bucket and key a request names: from a virtual host
// under one of the base domains, else from the path.
func (h *Handler) address(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	host := strings.ToLower(r.Host)
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	for _, d := range h.cfg.BaseDomains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, p
		}
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// writeError answers err as S3's XML error document (HEAD and 304: the
// status only). Once a response has begun, the connection is cut instead,
// so the client sees a truncated body and not a wrong one.
func (h *Handler) writeError(w *responseWriter, rq *request, err error) {
	ae := toAPIError(err)
	if ae == errInternal || ae == errUnavailable {
		h.log.Warn("s3 request failed", "method", rq.Method, "bucket", rq.bucket, "key", rq.key,
			"request_id", rq.reqID, "err", err)
	}
	w.code = ae.Code
	if w.Status != 0 {
		panic(http.ErrAbortHandler)
	}
	if ae.Status == http.StatusNotModified || rq.Method == http.MethodHead {
		w.WriteHeader(ae.Status)
		return
	}
	doc := errorBody{Code: ae.Code, Message: ae.Message, Resource: rq.resource(), RequestID: rq.reqID}
	writeXML(w, ae.Status, doc)
}

// writeXML answers v as an XML document.
func writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		// Our own types always marshal.
		panic(fmt.Sprintf("s3: marshal %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(xml.Header)+len(out)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// clientIP is the remote address without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
