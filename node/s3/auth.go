package s3

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html).
// The handler recomputes the signature of each request from the secret the
// Backend gives for its access key and compares the two in constant time.
const (
	sigAlgorithm     = "AWS4-HMAC-SHA256"
	sigService       = "s3"
	sigTerminator    = "aws4_request"
	amzDateFormat    = "20060102T150405Z"
	maxSkew          = 15 * time.Minute
	maxPresignExpiry = 7 * 24 * time.Hour

	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// identity is a verified request's signer and what its body's checks need.
type identity struct {
	account string
	// payload is the x-amz-content-sha256 the signature covers: a hex
	// SHA-256, UNSIGNED-PAYLOAD or one of the STREAMING-* forms.
	payload string
	signer  *chunkSigner // seeds the chunk signature chain
}

// chunkSigner signs the chunks of an aws-chunked body: each chunk's
// signature chains from the previous one, the first from the request's.
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string
}

// credential is the Credential= part: access key id and scope.
type credential struct {
	accessKey, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + sigTerminator
}

func parseCredential(s string) (credential, error) {
	// The access key id may itself contain "/": take the scope from the right.
	parts := strings.Split(s, "/")
	if len(parts) < 5 || parts[len(parts)-1] != sigTerminator {
		return credential{}, errInvalidArgument.withMessage("malformed credential " + strconv.Quote(s))
	}
	n := len(parts)
	c := credential{
		accessKey: strings.Join(parts[:n-4], "/"),
		date:      parts[n-4], region: parts[n-3], service: parts[n-2],
	}
	if c.accessKey == "" || len(c.date) != 8 || c.service != sigService {
		return credential{}, errInvalidArgument.withMessage("malformed credential " + strconv.Quote(s))
	}
	return c, nil
}

// signedRequest is what a header or query signature states.
type signedRequest struct {
	cred          credential
	signedHeaders []string
	signature     string
	amzDate       string
	date          time.Time
	expires       time.Duration // presigned only
	presigned     bool
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (signedRequest, error) {
	var sr signedRequest
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != sigAlgorithm {
		if strings.HasPrefix(h, "AWS ") {
			return sr, errAccessDenied.withMessage("Signature version 2 is not supported; use AWS Signature Version 4")
		}
		return sr, errInvalidArgument.withMessage("unsupported authorization type")
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			c, err := parseCredential(v)
			if err != nil {
				return sr, err
			}
			sr.cred = c
		case "SignedHeaders":
			sr.signedHeaders = strings.Split(v, ";")
		case "Signature":
			sr.signature = v
		}
	}
	if sr.cred.accessKey == "" || len(sr.signedHeaders) == 0 || sr.signature == "" {
		return sr, errInvalidArgument.withMessage("malformed Authorization header")
	}
	return sr, nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func parsePresigned(q url.Values) (signedRequest, error) {
	sr := signedRequest{presigned: true}
	if q.Get("X-Amz-Algorithm") != sigAlgorithm {
		return sr, errInvalidArgument.withMessage("X-Amz-Algorithm must be " + sigAlgorithm)
	}
	c, err := parseCredential(q.Get("X-Amz-Credential"))
	if err != nil {
		return sr, err
	}
	sr.cred = c
	sr.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	sr.signature = q.Get("X-Amz-Signature")
	sr.amzDate = q.Get("X-Amz-Date")
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxPresignExpiry {
		return sr, errAuthorizationQuery("X-Amz-Expires must be a number of seconds from 1 to 604800")
	}
	sr.expires = time.Duration(secs) * time.Second
	if sr.signature == "" || q.Get("X-Amz-SignedHeaders") == "" {
		return sr, errAuthorizationQuery("presigned URL without signature or signed headers")
	}
	return sr, nil
}

func errAuthorizationQuery(msg string) *apiError {
	return errorf("AuthorizationQueryParametersError", http.StatusBadRequest, msg)
}

// authenticate verifies r's SigV4 signature (header or presigned URL) and
// answers who signed it.
func (h *Handler) authenticate(ctx context.Context, r *http.Request) (*identity, error) {
	var sr signedRequest
	var err error
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "":
		sr, err = parseAuthorization(auth)
		if err != nil {
			return nil, err
		}
		sr.amzDate = r.Header.Get("X-Amz-Date")
	case q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential"):
		sr, err = parsePresigned(q)
		if err != nil {
			return nil, err
		}
	case q.Has("Signature") && q.Has("AWSAccessKeyId"):
		return nil, errAccessDenied.withMessage("Signature version 2 is not supported; use AWS Signature Version 4")
	default:
		return nil, errAccessDenied.withMessage("Anonymous access is not allowed")
	}
	if sr.amzDate == "" && !sr.presigned {
		// Date is allowed in place of X-Amz-Date; it must be signed then.
		if d, perr := http.ParseTime(r.Header.Get("Date")); perr == nil {
			sr.amzDate = d.UTC().Format(amzDateFormat)
		}
	}
	sr.date, err = time.Parse(amzDateFormat, sr.amzDate)
	if err != nil {
		return nil, errAccessDenied.withMessage("AWS authentication requires a valid Date or X-Amz-Date header")
	}
	if sr.cred.date != sr.amzDate[:8] {
		return nil, errSignatureMismatch.withMessage("credential scope date does not match the request date")
	}
	now := h.cfg.Now()
	if sr.presigned {
		if now.After(sr.date.Add(sr.expires)) {
			return nil, errExpired
		}
		if sr.date.Sub(now) > maxSkew {
			return nil, errAccessDenied.withMessage("Request is not valid yet")
		}
	} else if d := now.Sub(sr.date); d > maxSkew || d < -maxSkew {
		return nil, errTimeSkewed
	}
	if !containsString(sr.signedHeaders, "host") {
		return nil, errAccessDenied.withMessage("the host header must be signed")
	}

	payload := unsignedPayload
	if sr.presigned {
		if p := q.Get("X-Amz-Content-Sha256"); p != "" {
			payload = p
		}
	} else {
		payload = r.Header.Get("X-Amz-Content-Sha256")
		if payload == "" {
			return nil, errInvalidRequest.withMessage("Missing required header for this request: x-amz-content-sha256")
		}
		if !validPayloadHash(payload) {
			return nil, errorf("InvalidArgument", http.StatusBadRequest, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256")
		}
	}

	secret, account, err := h.backend.Secret(ctx, sr.cred.accessKey)
	if err != nil {
		return nil, fmt.Errorf("look up access key: %w", err)
	}
	key := signingKey(secret, sr.cred)
	canonical := canonicalRequest(r, sr, payload)
	want := signature(key, stringToSign(sr.amzDate, sr.cred.scope(), canonical))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(sr.signature))) != 1 {
		h.log.Debug("signature mismatch", "access_key", sr.cred.accessKey, "canonical_request", canonical)
		return nil, errSignatureMismatch
	}
	return &identity{
		account: account,
		payload: payload,
		signer:  &chunkSigner{key: key, amzDate: sr.amzDate, scope: sr.cred.scope(), prev: want},
	}, nil
}

func validPayloadHash(p string) bool {
	switch p {
	case unsignedPayload, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer:
		return true
	}
	if len(p) != 64 {
		return false
	}
	_, err := hex.DecodeString(p)
	return err == nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// canonicalRequest is SigV4's canonical form of r.
func canonicalRequest(r *http.Request, sr signedRequest, payload string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// S3 signs the path encoded once, as sent: re-encode the decoded path
	// the way the signers do, so any equivalent escaping verifies.
	b.WriteString(uriEncode(r.URL.Path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, sr.presigned))
	b.WriteByte('\n')
	for _, name := range sr.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(sr.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

// headerValue is a signed header's canonical value: its values joined by
// commas, each trimmed with inner runs of spaces folded.
func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		return r.Host
	case "transfer-encoding":
		// net/http moves it out of the header map.
		vals = r.TransferEncoding
	case "content-length":
		vals = r.Header.Values(name)
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalQuery sorts the query's parameters, each name and value
// encoded as SigV4 does; a presigned URL's own signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var params []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k = queryUnescape(k)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		params = append(params, kv{uriEncode(k, true), uriEncode(queryUnescape(v), true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// queryUnescape decodes %XX; a '+' stays '+' only when it cannot mean a
// space (signers encode spaces as %20, never '+').
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// uriEncode percent-encodes every byte but A-Z a-z 0-9 - _ . ~ (and '/'
// unless encodeSlash), upper-case hex, as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKey derives SigV4's key for the credential's scope.
func signingKey(secret string, c credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.date)
	k = hmacSHA256(k, c.region)
	k = hmacSHA256(k, c.service)
	return hmacSHA256(k, sigTerminator)
}

func signature(key []byte, toSign string) string {
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

// next checks the signature of the chunk whose data hashes to sum
// against sig and moves the chain on.
func (c *chunkSigner) next(sum []byte, sig string) error {
	toSign := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(sum)
	return c.check(toSign, sig)
}

// trailer checks the signature of the trailing headers (their canonical
// text "name:value\n" hashed to sum).
func (c *chunkSigner) trailer(sum []byte, sig string) error {
	toSign := "AWS4-HMAC-SHA256-TRAILER\n" + c.amzDate + "\n" + c.scope + "\n" + c.prev + "\n" + hex.EncodeToString(sum)
	return c.check(toSign, sig)
}

func (c *chunkSigner) check(toSign, sig string) error {
	want := signature(c.key, toSign)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return errSignatureMismatch.withMessage("chunk signature does not match")
	}
	c.prev = want
	return nil
}
