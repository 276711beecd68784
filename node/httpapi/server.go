package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/internal/httpguard"
	"github.com/ddsnet/dds/internal/ratelimit"
	"github.com/ddsnet/dds/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// Service is what the API needs from the node (*node.Node implements it).
type Service interface {
	Upload(ctx context.Context, u node.Upload) (node.File, error)
	File(ctx context.Context, id string) (node.File, error)
	Content(ctx context.Context, id string) (node.File, error)
	Read(ctx context.Context, id string, off, length int64) (io.ReadCloser, error)
	Patch(ctx context.Context, id string, p node.Patch) (node.File, bool, error)
	Pay(ctx context.Context, p node.PaymentRequest) (node.Payment, error)
	Payment(ctx context.Context, id string) (node.Payment, error)
	LocalPayments(ctx context.Context, from, to time.Time) (node.LocalReport, error)
	Status(ctx context.Context) node.Status
	Info(ctx context.Context) api.Info
	// MaxTerm is the network's longest storage term in seconds: the bound
	// every duration is checked against (cheap: on the upload path).
	MaxTerm(ctx context.Context) int64
	// RemoveMember ends peerID's membership with a removal the network's
	// admission key signed (sig over the peer id and at).
	RemoveMember(ctx context.Context, peerID string, at time.Time, sig []byte) error

	// Accounts.
	OpenAccount(ctx context.Context, name string) (node.Account, string, error)
	Account(ctx context.Context, id string) (node.Account, error)
	Authenticate(ctx context.Context, apiKey string) (node.Caller, error)
	AccountFiles(ctx context.Context, account, after string, limit int, state string) ([]node.File, string, error)
	PayFromBalance(ctx context.Context, id string, by node.Caller) (node.Payment, node.File, error)
	Delete(ctx context.Context, id string, by node.Caller) error
	// CreateS3Key makes an S3 access key on this node for the caller.
	CreateS3Key(ctx context.Context, by node.Caller) (node.S3Key, error)
	// Network is the network as this node sees it (GET /network).
	Network(ctx context.Context) node.Network
}

// Records keeps idempotency records durably (*node.Records implements it).
type Records interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, val []byte) error
}

// Config configures a [Server]. Start from [DefaultConfig].
type Config struct {
	Service      Service
	Records      Records
	BillingToken string               // bearer token POST /payments requires (constant-time compare)
	MaxUpload    int64                // bytes; larger uploads -> 413 payloadTooLarge
	RateLimit    rate.Limit           // per client (remote IP) token bucket; 0 or rate.Inf: no limit
	RateBurst    int                  // the bucket's size
	Registry     *prometheus.Registry // the handler registers its metrics here and serves it on /metrics
	Logger       *slog.Logger
	Version      string
	// S3Endpoint is the URL of this node's S3 gateway ("": it serves none,
	// and POST /s3-keys answers 404).
	S3Endpoint string

	// SpoolDir is where the decoded bytes of a JSON or multipart upload
	// whose attributes follow its bytes wait (past SpoolMemory) until the
	// request is validated. Empty: os.TempDir().
	SpoolDir string
	// SpoolMemory is how many decoded bytes such an upload keeps in memory
	// before it spills to a file in SpoolDir.
	SpoolMemory int

	// MaxUploads bounds the uploads in progress on the node, and
	// MaxClientUploads those of one client (by IP address); zero: the
	// defaults (DefaultMaxUploads, DefaultMaxClientUploads).
	MaxUploads       int
	MaxClientUploads int

	// Stall bounds a request body that stalls, and a response its client
	// stops reading: each must move at least progressBytes within every
	// Stall, or the connection is cut. A large upload or download takes as
	// long as it needs at any sane rate; one trickling a byte at a time
	// does not hold its connection and goroutine for ever. Zero: 30 s.
	Stall time.Duration
}

// DefaultConfig returns the defaults: 1000 requests/s per client with a
// burst of 2000, uploads up to 10 GiB.
func DefaultConfig() Config {
	return Config{
		MaxUpload:   10 << 30,
		RateLimit:   1000,
		RateBurst:   2000,
		Logger:      slog.Default(),
		SpoolMemory: 1 << 20,
	}
}

// Server is the external HTTP API of one node. It is an [http.Handler].
type Server struct {
	cfg     Config
	svc     Service
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *ratelimit.Table
	metrics *metrics
	keys    *keyLocks
	uploads *uploadSlots
	traffic traffic
}

// Errors of [New].
var (
	ErrNoService = errors.New("httpapi: config has no service")
	ErrNoRecords = errors.New("httpapi: config has no records store")
	ErrNoToken   = errors.New("httpapi: config has no billing token")
)

// New builds the API server for cfg.Service.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, ErrNoService
	}
	if cfg.Records == nil {
		return nil, ErrNoRecords
	}
	if cfg.BillingToken == "" {
		return nil, ErrNoToken
	}
	if cfg.MaxUpload <= 0 {
		return nil, fmt.Errorf("httpapi: max upload must be positive, got %d", cfg.MaxUpload)
	}
	if cfg.RateLimit < 0 || (cfg.RateLimit > 0 && cfg.RateLimit != rate.Inf && cfg.RateBurst < 1) {
		return nil, fmt.Errorf("httpapi: rate limit %v with burst %d", cfg.RateLimit, cfg.RateBurst)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.SpoolMemory <= 0 {
		cfg.SpoolMemory = 1 << 20
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 30 * time.Second
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.MaxClientUploads <= 0 {
		cfg.MaxClientUploads = DefaultMaxClientUploads
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("httpapi: register metrics: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		svc:     cfg.Service,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		metrics: m,
		keys:    newKeyLocks(),
		uploads: newUploadSlots(cfg.MaxUploads, cfg.MaxClientUploads),
	}
	if cfg.RateLimit > 0 && cfg.RateLimit != rate.Inf {
		s.limiter = ratelimit.New(cfg.RateLimit, cfg.RateBurst, maxClients)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /files", s.handleUpload)
	s.mux.HandleFunc("GET /files", s.handleList)
	s.mux.HandleFunc("GET /files/{id}", s.handleContent)
	s.mux.HandleFunc("PATCH /files/{id}", s.handlePatch)
	s.mux.HandleFunc("GET /files/{id}/info", s.handleInfo)
	s.mux.HandleFunc("DELETE /files/{id}", s.handleDelete)
	s.mux.HandleFunc("POST /accounts", s.handleOpenAccount)
	s.mux.HandleFunc("GET /accounts/{id}", s.handleAccount)
	s.mux.HandleFunc("POST /s3-keys", s.handleS3Key)
	s.mux.HandleFunc("POST /payments", s.handlePay)
	s.mux.HandleFunc("GET /payments/local", s.handleLocalPayments)
	s.mux.HandleFunc("GET /payments/{id}", s.handlePayment)
	s.mux.HandleFunc("POST /members/{peer_id}/removal", s.handleRemoveMember)
	s.mux.HandleFunc("GET /status", s.handleStatus)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.HandleFunc("GET /info", s.handleNodeInfo)
	s.mux.HandleFunc("GET /network", s.handleNetwork)
	s.mux.HandleFunc("GET /{$}", s.handleDashboard)
	s.mux.HandleFunc("GET /ui/{file}", s.handleDashboardAsset)
	s.mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
}

// maxClients bounds the rate limiter's table of clients.
const maxClients = 16384

// probeMethods are the methods tried to build a 405's Allow header.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// ServeHTTP serves one request: rate limit, route, handle, measure, log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw, in := httpguard.Guard(w, r, s.cfg.Stall)
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	route := "unmatched"
	defer func() {
		status := rw.Status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		s.metrics.observe(route, r.Method, status, in.N, rw.N, elapsed)
		s.traffic.add(in.N, rw.N)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", status), slog.Int64("bytes_in", in.N),
			slog.Int64("bytes_out", rw.N), slog.Duration("duration", elapsed))
	}()

	if s.limiter != nil {
		if ok, wait := s.limiter.Allow(clientIP(r), time.Now()); !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			rw.Header().Set("Retry-After", fmt.Sprint(secs))
			s.writeErrors(rw, r, http.StatusTooManyRequests, []api.Error{newError(http.StatusTooManyRequests,
				api.CodeRateLimited, "too many requests from this client; retry later", nil)})
			return
		}
	}

	p := r.URL.Path
	if p == "" || p[0] != '/' || path.Clean(p) != p {
		s.writeErrors(rw, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	if _, pattern := s.mux.Handler(r); pattern != "" {
		route = routeOf(pattern)
		s.mux.ServeHTTP(rw, r)
		return
	}
	// No handler: either the path is unknown (404) or the method (405).
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			route = routeOf(pattern)
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		s.writeErrors(rw, r, http.StatusNotFound, []api.Error{notFound()})
		return
	}
	rw.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeErrors(rw, r, http.StatusMethodNotAllowed, []api.Error{newError(http.StatusMethodNotAllowed,
		api.CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", ")), nil)})
}

// routeOf strips the method from a ServeMux pattern: "GET /files/{id}" -> "/files/{id}".
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern[i+1:]
	}
	return pattern
}

// clientIP is the remote address without its port. Forwarding headers are
// not trusted: a proxy in front of the node should rate limit itself.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
