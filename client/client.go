package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ddsnet/dds/api"
)

// Errors of the client itself (the server's answers are [*Error]).
var (
	ErrBadURL        = errors.New("invalid node url")
	ErrBadResponse   = errors.New("unexpected response")
	ErrFinalState    = errors.New("file reached a final state")
	ErrInvalidOption = errors.New("invalid option")
)

// maxDocument bounds the size of a JSON document the client decodes.
const maxDocument = 64 << 20

// DefaultPollInterval is how often [Client.WaitState] asks for the file's
// state unless [WithPollInterval] says otherwise.
const DefaultPollInterval = 250 * time.Millisecond

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithBillingToken sets the bearer token that [Client.Pay] sends.
func WithBillingToken(token string) Option {
	return func(c *Client) { c.billingToken = token }
}

// WithAPIKey sets an account's API key: sent as the bearer token of every
// request that does not send the billing token (accounts: uploads it owns,
// its listing, private files, deletes).
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = key }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithPollInterval sets the first interval between two polls of
// [Client.WaitState]; it doubles up to 8 times that.
func WithPollInterval(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.poll = d
		}
	}
}

// Client talks to one dds node's external API. It is safe for concurrent use.
type Client struct {
	base         *url.URL
	hc           *http.Client
	billingToken string
	apiKey       string
	userAgent    string
	poll         time.Duration
}

// New returns a client of the node at baseURL ("http://127.0.0.1:7070").
// The URL must be absolute http or https, without query or fragment.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadURL, baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w %q: scheme must be http or https", ErrBadURL, baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w %q: no host", ErrBadURL, baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w %q: no user, query or fragment allowed", ErrBadURL, baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{base: u, hc: http.DefaultClient, userAgent: "dds-client", poll: DefaultPollInterval}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL is the node's base URL.
func (c *Client) URL() string { return c.base.String() }

// request is one API call.
type request struct {
	method  string
	path    string // escaped path below the base URL, starting with "/"
	query   url.Values
	body    io.Reader
	length  int64 // body length; -1 unknown; 0: let NewRequest guess
	ctype   string
	header  http.Header
	billing bool // send the billing token
}

// do sends r and returns the response whatever its status.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), r.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.body != nil && r.length != 0 {
		// -1 is unknown (chunked); with 0, NewRequest's guess stands and
		// the transport sends chunked unless the body turns out empty.
		req.ContentLength = r.length
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("Accept", api.MediaType+", application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	switch {
	case r.billing && c.billingToken != "":
		req.Header.Set("Authorization", "Bearer "+c.billingToken)
	case c.apiKey != "":
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err // a *url.Error: it names the method and the URL
	}
	return resp, nil
}

// call sends r, decodes a 2xx (or an accepted non-2xx) answer into out and
// turns any other answer into an *Error.
func (c *Client) call(ctx context.Context, r request, out any, accept ...int) (int, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return 0, err
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, s := range accept {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, readError(resp)
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
		return resp.StatusCode, nil
	}
	if err := decodeBody(resp.Body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %d answer: %w", r.method, r.path, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// decodeBody decodes one JSON value from body into out.
func decodeBody(body io.Reader, out any) error {
	b, err := io.ReadAll(io.LimitReader(body, maxDocument))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: decode %T: %w", ErrBadResponse, out, err)
	}
	return nil
}

// jsonBody encodes v as a request body.
func jsonBody(v any) (io.Reader, int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, 0, fmt.Errorf("encode request: %w", err)
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// escape escapes one path segment (an id).
func escape(id string) string { return url.PathEscape(id) }
