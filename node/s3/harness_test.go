package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testKey     = "AKIDALICE"
	testSecret  = "alice-secret-0123456789"
	otherKey    = "AKIDBOB"
	otherSecret = "bob-secret-0123456789"
	testDomain  = "s3.test"
)

// gateway is a Handler over a memBackend behind an httptest server.
type gateway struct {
	t       *testing.T
	srv     *httptest.Server
	backend *memBackend
	handler *Handler
	reg     *prometheus.Registry
	skew    atomic.Int64 // the handler's clock runs this far ahead (ns)
}

func newGateway(t *testing.T, opts ...func(*Config)) *gateway {
	t.Helper()
	return startGateway(t, false, opts...)
}

// newTLSGateway serves over HTTPS: there the SDK sends aws-chunked bodies
// with CRC32 trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER), over plain
// HTTP a signed payload hash.
func newTLSGateway(t *testing.T, opts ...func(*Config)) *gateway {
	t.Helper()
	return startGateway(t, true, opts...)
}

func startGateway(t *testing.T, useTLS bool, opts ...func(*Config)) *gateway {
	t.Helper()
	g := &gateway{t: t, backend: newMemBackend(t.TempDir()), reg: prometheus.NewRegistry()}
	g.backend.addKey(testKey, testSecret, "alice")
	g.backend.addKey(otherKey, otherSecret, "bob")
	cfg := DefaultConfig()
	cfg.Backend = g.backend
	cfg.BaseDomains = []string{testDomain}
	cfg.Registry = g.reg
	cfg.RateLimit = 0
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(g.skew.Load())) }
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.handler = h
	if useTLS {
		g.srv = httptest.NewTLSServer(h)
	} else {
		g.srv = httptest.NewServer(h)
	}
	t.Cleanup(g.srv.Close)
	return g
}

// httpClient dials the test server whatever the host, so that
// virtual-host names under testDomain reach it.
func (g *gateway) httpClient() *http.Client {
	addr := g.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 8,
		// Virtual-host names are not in the test certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	g.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

// client is an aws-sdk-go-v2 S3 client of the gateway: path-style, or
// virtual-host style under testDomain.
func (g *gateway) client(key, secret string, virtualHost bool, opts ...func(*awss3.Options)) *awss3.Client {
	endpoint := g.srv.URL
	if virtualHost {
		u, _ := url.Parse(g.srv.URL)
		endpoint = u.Scheme + "://" + testDomain + ":" + u.Port()
	}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		HTTPClient:  g.httpClient(),
	}
	return awss3.NewFromConfig(cfg, append([]func(*awss3.Options){func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = !virtualHost
		o.RetryMaxAttempts = 1
	}}, opts...)...)
}

// alice is the usual path-style client.
func (g *gateway) alice() *awss3.Client { return g.client(testKey, testSecret, false) }

// errorCode is the S3 error code of an SDK error ("" for nil).
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Fatalf("error %q (%v), want %s", got, err, code)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct {
	n, off int64
	seed   byte
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x*31+x>>8) ^ p.seed
	}
	p.off += int64(len(b))
	return len(b), nil
}

func pattern(n int64, seed byte) *patternReader { return &patternReader{n: n, seed: seed} }

func patternBytes(n int64, seed byte) []byte {
	b, _ := io.ReadAll(pattern(n, seed))
	return b
}
