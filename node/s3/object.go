package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// metaFromHeaders reads an object's metadata from a request.
func metaFromHeaders(hdr http.Header) (Meta, error) {
	m := Meta{
		ContentType:        hdr.Get("Content-Type"),
		ContentDisposition: hdr.Get("Content-Disposition"),
		ContentEncoding:    storedEncoding(hdr.Get("Content-Encoding")),
		ContentLanguage:    hdr.Get("Content-Language"),
		CacheControl:       hdr.Get("Cache-Control"),
		Expires:            hdr.Get("Expires"),
	}
	size := 0
	for k, vs := range hdr {
		lk := strings.ToLower(k)
		name, ok := strings.CutPrefix(lk, "x-amz-meta-")
		if !ok || name == "" {
			continue
		}
		if m.User == nil {
			m.User = map[string]string{}
		}
		v := strings.Join(vs, ",")
		m.User[name] = v
		size += len(name) + len(v)
	}
	if size > maxUserMeta {
		return m, errMetadataTooLarge
	}
	return m, nil
}

// storedEncoding drops aws-chunked, which describes the request's
// framing, not the object.
func storedEncoding(ce string) string {
	var out []string
	for _, e := range strings.Split(ce, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			out = append(out, e)
		}
	}
	return strings.Join(out, ",")
}

// setObjectHeaders sets the headers that describe obj; the request's
// response-* parameters override theirs (presigned downloads use them).
func setObjectHeaders(w http.ResponseWriter, obj Object, q url.Values) {
	hd := w.Header()
	hd.Set("ETag", quote(obj.ETag))
	hd.Set("Last-Modified", obj.LastModified.UTC().Format(http.TimeFormat))
	hd.Set("Accept-Ranges", "bytes")
	ct := obj.ContentType
	if ct == "" {
		ct = "binary/octet-stream" // S3's default
	}
	for _, f := range []struct{ name, val string }{
		{"Content-Type", ct},
		{"Content-Disposition", obj.ContentDisposition},
		{"Content-Encoding", obj.ContentEncoding},
		{"Content-Language", obj.ContentLanguage},
		{"Cache-Control", obj.CacheControl},
		{"Expires", obj.Expires},
	} {
		v := f.val
		if o := q.Get("response-" + strings.ToLower(f.name)); o != "" {
			v = o
		}
		if v != "" {
			hd.Set(f.name, v)
		}
	}
	for k, v := range obj.User {
		hd["X-Amz-Meta-"+k] = []string{v}
	}
}

// bodyInput opens the request's body for the Backend. An empty body is
// checked at once: a Backend may store an empty object without reading.
func (h *Handler) bodyInput(rq *request, meta Meta) (*body, error) {
	b, err := openBody(rq.Request, rq.id, h.cfg.MaxObjectSize)
	if err != nil {
		return nil, err
	}
	if b.size == 0 {
		if err := b.finish(); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// stored turns what a Backend call that read b answered into the request's
// outcome: a failed check of the body wins over the Backend's error.
func (h *Handler) stored(rq *request, b *body, err error) error {
	if b.err != nil {
		return b.err
	}
	if err != nil {
		return err
	}
	if !b.verified {
		// The Backend broke its contract: it kept bytes it did not read
		// to the end, so no check covered them.
		h.log.Error("backend stored a body it did not read to the end", "bucket", rq.bucket, "key", rq.key)
		return errInternal
	}
	return nil
}

func (h *Handler) putObject(w *responseWriter, rq *request) error {
	// Conditional writes would need the Backend to compare and store in
	// one step; refusing them beats overwriting what the client meant to keep.
	if rq.Header.Get("If-None-Match") != "" || rq.Header.Get("If-Match") != "" {
		return errNotImplemented.withMessage("conditional writes are not implemented")
	}
	meta, err := metaFromHeaders(rq.Header)
	if err != nil {
		return err
	}
	b, err := h.bodyInput(rq, meta)
	if err != nil {
		return err
	}
	defer b.Close()
	obj, err := h.backend.PutObject(rq.Context(), rq.id.account, rq.bucket, rq.key, b.input(meta))
	if err := h.stored(rq, b, err); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	answerStored(w, b, obj.ETag)
	return nil
}

// answerStored answers a stored PutObject or UploadPart: its ETag (the
// Backend's, else the body's MD5) and the checksum it was checked against,
// which SDKs compare with their own.
func answerStored(w http.ResponseWriter, b *body, etag string) {
	if etag == "" {
		etag = b.ETag()
	}
	w.Header().Set("ETag", quote(etag))
	if name, v := b.checksumHeader(); name != "" {
		w.Header().Set(name, v)
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) headObject(w *responseWriter, rq *request) error {
	obj, err := h.backend.HeadObject(rq.Context(), rq.id.account, rq.bucket, rq.key)
	if err != nil {
		return fmt.Errorf("head object: %w", err)
	}
	if err := checkConditions(rq.Header, obj); err != nil {
		return err
	}
	setObjectHeaders(w, obj, rq.query)
	off, length, ranged, err := parseRange(rq.Header.Get("Range"), obj.Size)
	if err != nil {
		return err
	}
	if ranged {
		w.Header().Set("Content-Range", contentRange(off, length, obj.Size))
		w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
		w.WriteHeader(http.StatusPartialContent)
		return nil
	}
	w.Header().Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getObject(w *responseWriter, rq *request) error {
	ctx := rq.Context()
	rng := rq.Header.Get("Range")
	var (
		obj         Object
		rc          io.ReadCloser
		off, length int64 = 0, -1
		ranged      bool
	)
	if rng == "" {
		var err error
		obj, rc, err = h.backend.GetObject(ctx, rq.id.account, rq.bucket, rq.key, 0, -1)
		if err != nil {
			return fmt.Errorf("get object: %w", err)
		}
		if err := checkConditions(rq.Header, obj); err != nil {
			rc.Close()
			return err
		}
	} else {
		// A range needs the size first. Should the object be replaced
		// between the two calls, the range is resolved again for the new one.
		for try := 0; ; try++ {
			head, err := h.backend.HeadObject(ctx, rq.id.account, rq.bucket, rq.key)
			if err != nil {
				return fmt.Errorf("head object: %w", err)
			}
			if err := checkConditions(rq.Header, head); err != nil {
				return err
			}
			off, length, ranged, err = parseRange(rng, head.Size)
			if err != nil {
				return err
			}
			if !ranged {
				length = -1
			}
			obj, rc, err = h.backend.GetObject(ctx, rq.id.account, rq.bucket, rq.key, off, length)
			if err != nil {
				return fmt.Errorf("get object: %w", err)
			}
			if obj.ETag == head.ETag || try == 1 {
				break
			}
			rc.Close()
		}
	}
	defer rc.Close()
	setObjectHeaders(w, obj, rq.query)
	status := http.StatusOK
	n := obj.Size
	if ranged {
		n = length
		w.Header().Set("Content-Range", contentRange(off, length, obj.Size))
		status = http.StatusPartialContent
	}
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if _, err := streamN(w, rc, n); err != nil {
		// Headers are out: cutting the connection is all that is left.
		h.log.Debug("get object: stream cut", "bucket", rq.bucket, "key", rq.key, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func contentRange(off, length, size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, size)
}

// parseRange resolves a single "bytes=" range against size. A header that
// is not one such range is ignored, as RFC 9110 allows; a range that
// starts past the end is InvalidRange.
func parseRange(h string, size int64) (off, length int64, ranged bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" {
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errInvalidRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return 0, size, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, errInvalidRange
	}
	return start, end - start + 1, true, nil
}

// checkConditions applies If-Match, If-Unmodified-Since, If-None-Match
// and If-Modified-Since in S3's (RFC 9110's) order.
func checkConditions(hdr http.Header, obj Object) error {
	return conditions(obj,
		hdr.Get("If-Match"), hdr.Get("If-None-Match"),
		hdr.Get("If-Modified-Since"), hdr.Get("If-Unmodified-Since"), errNotModified)
}

// conditions is the shared logic of GET/HEAD conditions and CopyObject's
// x-amz-copy-source-if-*: notModified is what a matching If-None-Match or
// a failed If-Modified-Since answer (304 for reads, 412 for a copy).
func conditions(obj Object, ifMatch, ifNoneMatch, ifModSince, ifUnmodSince string, notModified *apiError) error {
	mod := obj.LastModified.Truncate(time.Second)
	if ifMatch != "" {
		if !etagMatches(ifMatch, obj.ETag) {
			return errPreconditionFailed
		}
	} else if t, err := http.ParseTime(ifUnmodSince); ifUnmodSince != "" && err == nil && mod.After(t) {
		return errPreconditionFailed
	}
	if ifNoneMatch != "" {
		if etagMatches(ifNoneMatch, obj.ETag) {
			return notModified
		}
	} else if t, err := http.ParseTime(ifModSince); ifModSince != "" && err == nil && !mod.After(t) {
		return notModified
	}
	return nil
}

// etagMatches reports whether a list of entity tags (or "*") names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

func (h *Handler) deleteObject(w *responseWriter, rq *request) error {
	if err := h.backend.DeleteObject(rq.Context(), rq.id.account, rq.bucket, rq.key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// copySource reads x-amz-copy-source: "[/]bucket/key[?versionId=...]",
// URL-encoded.
func copySource(rq *request) (bucket, key string, err error) {
	raw := rq.Header.Get("X-Amz-Copy-Source")
	src, version, _ := strings.Cut(raw, "?")
	if v := strings.TrimPrefix(version, "versionId="); v != "" && v != "null" {
		return "", "", errNotImplemented.withMessage("versioning is not implemented")
	}
	dec, uerr := url.PathUnescape(src)
	if uerr != nil {
		return "", "", errInvalidArgument.withMessage("Invalid copy source encoding")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	switch {
	case !validBucketName(bucket):
		return "", "", errInvalidBucketName
	case key == "":
		return "", "", errInvalidArgument.withMessage("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	case len(key) > maxKeyLength:
		return "", "", errKeyTooLong
	}
	return bucket, key, nil
}

// checkCopyConditions applies x-amz-copy-source-if-* to the source.
func (h *Handler) checkCopyConditions(rq *request, bucket, key string) error {
	hd := rq.Header
	im, inm := hd.Get("X-Amz-Copy-Source-If-Match"), hd.Get("X-Amz-Copy-Source-If-None-Match")
	ims, ius := hd.Get("X-Amz-Copy-Source-If-Modified-Since"), hd.Get("X-Amz-Copy-Source-If-Unmodified-Since")
	if im == "" && inm == "" && ims == "" && ius == "" {
		return nil
	}
	src, err := h.backend.HeadObject(rq.Context(), rq.id.account, bucket, key)
	if err != nil {
		return fmt.Errorf("head copy source: %w", err)
	}
	return conditions(src, im, inm, ims, ius, errPreconditionFailed)
}

func (h *Handler) copyObject(w *responseWriter, rq *request) error {
	sb, sk, err := copySource(rq)
	if err != nil {
		return err
	}
	var meta *Meta
	switch d := rq.Header.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
		if sb == rq.bucket && sk == rq.key {
			return errInvalidRequest.withMessage("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
	case "REPLACE":
		m, err := metaFromHeaders(rq.Header)
		if err != nil {
			return err
		}
		meta = &m
	default:
		return errInvalidArgument.withMessage("Unknown metadata directive.")
	}
	if err := h.checkCopyConditions(rq, sb, sk); err != nil {
		return err
	}
	obj, err := h.backend.CopyObject(rq.Context(), rq.id.account, sb, sk, rq.bucket, rq.key, meta)
	if err != nil {
		return fmt.Errorf("copy object: %w", err)
	}
	writeXML(w, http.StatusOK, copyResult{XMLName: xml.Name{Local: "CopyObjectResult"}, Xmlns: s3Namespace, ETag: quote(obj.ETag), LastModified: xmlTime(obj.LastModified)})
	return nil
}
