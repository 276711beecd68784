package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
	"github.com/google/uuid"
)

// Limits of request documents and attributes (spec/api.md).
const (
	maxNameLen        = 255
	maxAdditionalKeys = 64
	maxAdditionalLen  = 16 << 10
	maxDocument       = 64 << 10 // PATCH and payment documents
)

// parseID returns the canonical (lowercase) form of a UUID written in its
// 36-character form, and false for anything else.
func parseID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// jsonMediaType reports whether a Content-Type may carry a JSON document:
// application/json with any parameters, or the JSON:API media type with
// only the ext and profile parameters and no extension (JSON:API 1.1).
func jsonMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json":
		return true
	case api.MediaType:
		for k, v := range params {
			switch k {
			case "profile":
			case "ext":
				if strings.TrimSpace(v) != "" {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return false
}

func unsupportedMediaType(ct, want string) *problemsError {
	detail := fmt.Sprintf("Content-Type %q is not accepted here; send %s", ct, want)
	return &problemsError{status: http.StatusUnsupportedMediaType, errs: []api.Error{
		newError(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, detail, header("Content-Type"))}}
}

// requireJSON refuses a request whose body is not declared JSON.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if !jsonMediaType(ct) {
		return unsupportedMediaType(ct, api.MediaType+" or application/json")
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func malformed(detail string) api.Error {
	return fieldError(api.CodeInvalidRequest, detail, nil)
}

// parseResource splits a single-resource document into its resource object
// and attributes, reporting shape problems.
func parseResource(body []byte) (res, attrs map[string]json.RawMessage, errs []api.Error) {
	if !json.Valid(body) {
		return nil, nil, []api.Error{malformed("the body is not well-formed JSON")}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, []api.Error{malformed("the document must be a JSON object")}
	}
	raw, ok := top["data"]
	if !ok || isNull(raw) {
		return nil, nil, []api.Error{fieldError(api.CodeRequired, "data is required", pointer("/data"))}
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, nil, []api.Error{fieldError(api.CodeInvalidRequest, "data must be a resource object", pointer("/data"))}
	}
	raw, ok = res["attributes"]
	if !ok || isNull(raw) {
		return res, nil, []api.Error{fieldError(api.CodeRequired, "attributes are required", pointer("/data/attributes"))}
	}
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return res, nil, []api.Error{fieldError(api.CodeInvalidRequest, "attributes must be an object", pointer("/data/attributes"))}
	}
	return res, attrs, nil
}

// checkType checks data.type against the types the endpoint takes; another
// type is a 409 conflict (JSON:API 1.1).
func checkType(res map[string]json.RawMessage, allowed ...string) *api.Error {
	raw, ok := res["type"]
	if !ok || isNull(raw) {
		e := fieldError(api.CodeRequired, "type is required", pointer("/data/type"))
		return &e
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		e := fieldError(api.CodeInvalidValue, "type must be a string", pointer("/data/type"))
		return &e
	}
	for _, a := range allowed {
		if t == a {
			return nil
		}
	}
	e := newError(http.StatusConflict, api.CodeConflict,
		fmt.Sprintf("type %q is not %s", t, strings.Join(allowed, " or ")), pointer("/data/type"))
	return &e
}

// checkName validates a file name: 1 to 255 bytes of UTF-8, no control characters.
func checkName(name string, src *api.Source) *api.Error {
	var e api.Error
	switch {
	case name == "":
		e = fieldError(api.CodeTooShort, "name must not be empty", src)
	case len(name) > maxNameLen:
		e = fieldError(api.CodeTooLong, fmt.Sprintf("name must be at most %d bytes", maxNameLen), src)
	case !utf8.ValidString(name):
		e = fieldError(api.CodeInvalidValue, "name must be UTF-8", src)
	case strings.ContainsFunc(name, unicode.IsControl):
		e = fieldError(api.CodeInvalidValue, "name must not contain control characters", src)
	default:
		return nil
	}
	return &e
}

// checkDuration validates a term in seconds: a whole number from 1 to
// maxTerm (when maxTerm > 0). jsonToken says text is a JSON value (a string
// there is refused) rather than the text of a query parameter or form field.
func checkDuration(text string, jsonToken bool, maxTerm int64, src *api.Source) (int64, *api.Error) {
	bad := func(detail string) (int64, *api.Error) {
		e := fieldError(api.CodeInvalidValue, detail, src)
		return 0, &e
	}
	text = strings.TrimSpace(text)
	if jsonToken && (text == "" || !(text[0] == '-' || text[0] >= '0' && text[0] <= '9')) {
		return bad("duration must be a number of seconds")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !strings.HasPrefix(text, "-") {
			return bad(maxTermDetail(maxTerm))
		}
		return bad("duration must be a positive whole number of seconds")
	}
	if n < 1 {
		return bad("duration must be a positive whole number of seconds")
	}
	if maxTerm > 0 && n > maxTerm {
		return bad(maxTermDetail(maxTerm))
	}
	return n, nil
}

// maxTermDetail names the network's maximum term (unknown when 0).
func maxTermDetail(maxTerm int64) string {
	if maxTerm <= 0 {
		return "duration is longer than the network's maximum term"
	}
	return fmt.Sprintf("duration must be at most %d seconds (%s, the network's maximum term)", maxTerm, time.Duration(maxTerm)*time.Second)
}

// checkAdditional validates the additional attributes: a JSON object of at
// most 64 keys and 16 KiB.
func checkAdditional(raw []byte, src *api.Source) (map[string]json.RawMessage, *api.Error) {
	bad := func(code, detail string) (map[string]json.RawMessage, *api.Error) {
		e := fieldError(code, detail, src)
		return nil, &e
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return bad(api.CodeInvalidValue, "additional must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return bad(api.CodeInvalidValue, "additional must be a JSON object")
	}
	if buf.Len() > maxAdditionalLen {
		return bad(api.CodeTooLong, fmt.Sprintf("additional must be at most %d bytes encoded", maxAdditionalLen))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return bad(api.CodeInvalidValue, "additional must be a JSON object")
	}
	if len(m) > maxAdditionalKeys {
		return bad(api.CodeInvalidValue, fmt.Sprintf("additional must have at most %d keys", maxAdditionalKeys))
	}
	return m, nil
}

// decodePatch decodes and validates a PATCH /files/{id} document for the
// file id (canonical form).
func decodePatch(body []byte, id string, maxTerm func() int64) (node.Patch, []api.Error) {
	var p node.Patch
	res, attrs, errs := parseResource(body)
	if res == nil {
		return p, errs
	}
	if e := checkType(res, api.TypeFile); e != nil {
		errs = append(errs, *e)
	}
	var rid string
	if raw, ok := res["id"]; !ok || isNull(raw) {
		errs = append(errs, fieldError(api.CodeRequired, "id is required", pointer("/data/id")))
	} else if err := json.Unmarshal(raw, &rid); err != nil {
		errs = append(errs, fieldError(api.CodeInvalidValue, "id must be a string", pointer("/data/id")))
	} else if canon, ok := parseID(rid); !ok || canon != id {
		errs = append(errs, newError(http.StatusConflict, api.CodeConflict, "id does not match the path's id", pointer("/data/id")))
	}
	if attrs == nil {
		return p, errs
	}
	if raw, ok := attrs["duration"]; ok && !isNull(raw) {
		d, e := checkDuration(string(raw), true, maxTerm(), pointer("/data/attributes/duration"))
		if e != nil {
			errs = append(errs, *e)
		} else {
			p.Duration = &d
		}
	}
	if raw, ok := attrs["additional"]; ok && !isNull(raw) {
		m, e := checkAdditional(raw, pointer("/data/attributes/additional"))
		if e != nil {
			errs = append(errs, *e)
		} else {
			p.Additional = m
		}
	}
	if len(errs) == 0 && p.Duration == nil && p.Additional == nil {
		errs = append(errs, fieldError(api.CodeRequired, "duration or additional is required", pointer("/data/attributes")))
	}
	return p, errs
}

// decodePayment decodes and validates a POST /payments document.
func decodePayment(body []byte) (node.PaymentRequest, []api.Error) {
	var p node.PaymentRequest
	res, attrs, errs := parseResource(body)
	if res == nil {
		return p, errs
	}
	if e := checkType(res, api.TypePayment, api.TypeFile); e != nil {
		errs = append(errs, *e)
	}
	if attrs == nil {
		return p, errs
	}
	str := func(name string) (string, bool) {
		src := pointer("/data/attributes/" + name)
		raw, ok := attrs[name]
		if !ok || isNull(raw) {
			errs = append(errs, fieldError(api.CodeRequired, name+" is required", src))
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			errs = append(errs, fieldError(api.CodeInvalidValue, name+" must be a string", src))
			return "", false
		}
		return s, true
	}
	// A payment pays a file's quote, or credits an account (accounts).
	if raw, ok := attrs["account_id"]; ok && !isNull(raw) {
		if raw, ok := attrs["file_id"]; ok && !isNull(raw) {
			errs = append(errs, fieldError(api.CodeInvalidValue, "a payment has a file_id or an account_id, not both", pointer("/data/attributes/account_id")))
		} else if s, ok := str("account_id"); ok {
			if id, ok := parseID(s); ok {
				p.AccountID = id
			} else {
				errs = append(errs, fieldError(api.CodeInvalidValue, "account_id must be an account id (a UUID)", pointer("/data/attributes/account_id")))
			}
		}
	} else if s, ok := str("file_id"); ok {
		if id, ok := parseID(s); ok {
			p.FileID = id
		} else {
			errs = append(errs, fieldError(api.CodeInvalidValue, "file_id must be a file id (a UUID)", pointer("/data/attributes/file_id")))
		}
	}
	if s, ok := str("status"); ok {
		if s == api.PaymentSuccess || s == api.PaymentError {
			p.Status = s
		} else {
			errs = append(errs, fieldError(api.CodeInvalidValue, `status must be "success" or "error"`, pointer("/data/attributes/status")))
		}
	}
	src := pointer("/data/attributes/amount")
	if raw, ok := attrs["amount"]; !ok || isNull(raw) {
		if p.Status != api.PaymentError {
			errs = append(errs, fieldError(api.CodeRequired, "amount is required", src))
		}
	} else if t, err := api.ParseTokens(string(bytes.TrimSpace(raw))); err != nil {
		errs = append(errs, fieldError(api.CodeInvalidValue,
			"amount must be a non-negative JSON number of tokens with at most 9 decimals ("+err.Error()+")", src))
	} else {
		p.Amount = int64(t)
	}
	if raw, ok := attrs["processor_signature"]; ok && !isNull(raw) {
		var sig []byte
		if err := json.Unmarshal(raw, &sig); err != nil || len(sig) != ed25519.SignatureSize {
			errs = append(errs, fieldError(api.CodeInvalidValue,
				"processor_signature must be the payment processor's ed25519 signature, base64", pointer("/data/attributes/processor_signature")))
		} else {
			p.ProcessorSignature = sig
		}
	}
	return p, errs
}

// maxPeerIDLen bounds a peer id in a path (the ledger's bound on ids).
const maxPeerIDLen = 256

// decodeRemoval reads a removal request's document: its time and the
// admission key's signature. Whether the signature holds is the ledger's
// to say.
func decodeRemoval(body []byte) (at time.Time, sig []byte, errs []api.Error) {
	res, attrs, errs := parseResource(body)
	if res == nil {
		return at, nil, errs
	}
	if e := checkType(res, api.TypeRemoval); e != nil {
		errs = append(errs, *e)
	}
	if attrs == nil {
		return at, nil, errs
	}
	field := func(name string, v any, want string) {
		src := pointer("/data/attributes/" + name)
		raw, ok := attrs[name]
		if !ok || isNull(raw) {
			errs = append(errs, fieldError(api.CodeRequired, name+" is required", src))
			return
		}
		if err := json.Unmarshal(raw, v); err != nil {
			errs = append(errs, fieldError(api.CodeInvalidValue, name+" must be "+want, src))
		}
	}
	field("at", &at, "an RFC 3339 time")
	field("signature", &sig, "a base64 ed25519 signature")
	if sig != nil && len(sig) != ed25519.SignatureSize {
		errs = append(errs, fieldError(api.CodeInvalidValue, fmt.Sprintf("signature must be %d bytes", ed25519.SignatureSize), pointer("/data/attributes/signature")))
	}
	return at, sig, errs
}
