package s3

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

func (h *Handler) listBuckets(w *responseWriter, rq *request) error {
	bs, err := h.backend.ListBuckets(rq.Context(), rq.id.account)
	if err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	res := listAllMyBucketsResult{Xmlns: s3Namespace, Owner: ownerOf(rq), Buckets: []bucketEntry{}}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: xmlTime(b.Created)})
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func ownerOf(rq *request) owner { return owner{ID: rq.id.account, DisplayName: rq.id.account} }

func (h *Handler) headBucket(w *responseWriter, rq *request) error {
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	w.Header().Set("X-Amz-Bucket-Region", h.cfg.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketLocation(w *responseWriter, rq *request) error {
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	loc := h.cfg.Region
	if loc == "us-east-1" {
		loc = "" // what S3 answers for its first region
	}
	writeXML(w, http.StatusOK, locationConstraint{Xmlns: s3Namespace, Location: loc})
	return nil
}

// getBucketVersioning answers "never versioned" (some clients ask).
func (h *Handler) getBucketVersioning(w *responseWriter, rq *request) error {
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	writeXML(w, http.StatusOK, versioningConfiguration{Xmlns: s3Namespace})
	return nil
}

func (h *Handler) createBucket(w *responseWriter, rq *request) error {
	// The body, when there is one, names a location: any is accepted,
	// as buckets are network-wide.
	if rq.ContentLength != 0 {
		var cfg createBucketConfiguration
		if err := readXML(rq, &cfg); err != nil {
			return err
		}
	}
	if err := h.backend.CreateBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	w.Header().Set("Location", "/"+rq.bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteBucket(w *responseWriter, rq *request) error {
	if err := h.backend.DeleteBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readXML reads a small XML body (at most maxXMLBody, with the same
// checks as any body) into v.
func readXML(rq *request, v any) error {
	return readXMLFrom(rq.Request, rq, v)
}

// readXMLFrom is readXML with r standing for the request.
func readXMLFrom(r *http.Request, rq *request, v any) error {
	b, err := openBody(r, rq.id, maxXMLBody)
	if errors.Is(err, errEntityTooLarge) {
		return errMalformedXML.withMessage("the XML body is too large")
	}
	if err != nil {
		return err
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return errMalformedXML
	}
	return nil
}

// maxDeleteObjects is S3's limit on keys in one DeleteObjects.
const maxDeleteObjects = 1000

func (h *Handler) deleteObjects(w *responseWriter, rq *request) error {
	var req deleteRequest
	if err := readXML(rq, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return errMalformedXML.withMessage("DeleteObjects takes 1 to 1000 keys")
	}
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	res := deleteResult{Xmlns: s3Namespace}
	for _, o := range req.Objects {
		var err error
		switch {
		case o.Key == "":
			err = errInvalidArgument.withMessage("empty key")
		case len(o.Key) > maxKeyLength:
			err = errKeyTooLong
		case o.VersionID != "" && o.VersionID != "null":
			err = errNotImplemented.withMessage("versioning is not implemented")
		default:
			err = h.backend.DeleteObject(rq.Context(), rq.id.account, rq.bucket, o.Key)
		}
		if err != nil {
			ae := toAPIError(err)
			if ae == errInternal || ae == errUnavailable {
				h.log.Warn("delete object failed", "bucket", rq.bucket, "key", o.Key, "err", err)
			}
			res.Errors = append(res.Errors, deleteErrorEntry{Key: o.Key, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: o.Key})
		}
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

// listParams are the parameters both list versions share.
type listParams struct {
	prefix, delimiter string
	max               int
	encode            bool
}

func parseListParams(rq *request, maxName string) (listParams, error) {
	p := listParams{prefix: rq.query.Get("prefix"), delimiter: rq.query.Get("delimiter"), max: maxListKeys}
	if v := rq.query.Get(maxName); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errInvalidArgument.withMessage(maxName + " must be a non-negative integer")
		}
		p.max = min(n, maxListKeys)
	}
	switch e := rq.query.Get("encoding-type"); e {
	case "":
	case "url":
		p.encode = true
	default:
		return p, errInvalidArgument.withMessage("Invalid Encoding Method specified in Request")
	}
	return p, nil
}

// list asks the Backend for one page; max-keys 0 asks for nothing.
func (h *Handler) list(rq *request, p listParams, after string) (ListPage, error) {
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return ListPage{}, fmt.Errorf("head bucket: %w", err)
	}
	if p.max == 0 {
		return ListPage{}, nil
	}
	page, err := h.backend.ListObjects(rq.Context(), rq.id.account, rq.bucket,
		ListQuery{Prefix: p.prefix, Delimiter: p.delimiter, After: after, Max: p.max})
	if err != nil {
		return page, fmt.Errorf("list objects: %w", err)
	}
	return page, nil
}

// fill puts a page's entries in a listing.
func fill(res *listBucketResult, page ListPage, p listParams, o *owner) {
	res.Contents = make([]objectEntry, 0, len(page.Objects))
	for _, obj := range page.Objects {
		res.Contents = append(res.Contents, objectEntry{
			Key: encodeKey(obj.Key, p.encode), LastModified: xmlTime(obj.LastModified),
			ETag: quote(obj.ETag), Size: obj.Size, Owner: o, StorageClass: "STANDARD",
		})
	}
	for _, cp := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: encodeKey(cp, p.encode)})
	}
}

func (h *Handler) listObjectsV2(w *responseWriter, rq *request) error {
	p, err := parseListParams(rq, "max-keys")
	if err != nil {
		return err
	}
	startAfter := rq.query.Get("start-after")
	token := rq.query.Get("continuation-token")
	after := startAfter
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return errInvalidArgument.withMessage("The continuation token provided is incorrect")
		}
		after = max(string(raw), startAfter)
	}
	page, err := h.list(rq, p, after)
	if err != nil {
		return err
	}
	count := len(page.Objects) + len(page.CommonPrefixes)
	res := listBucketResult{
		Xmlns: s3Namespace, Name: rq.bucket, Prefix: encodeKey(p.prefix, p.encode),
		StartAfter: encodeKey(startAfter, p.encode), ContinuationToken: token, KeyCount: &count,
		MaxKeys: p.max, Delimiter: encodeKey(p.delimiter, p.encode), IsTruncated: page.Truncated,
	}
	if p.encode {
		res.EncodingType = "url"
	}
	if page.Truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
	}
	var o *owner
	if rq.query.Get("fetch-owner") == "true" {
		ow := ownerOf(rq)
		o = &ow
	}
	fill(&res, page, p, o)
	writeXML(w, http.StatusOK, res)
	return nil
}

func (h *Handler) listObjectsV1(w *responseWriter, rq *request) error {
	p, err := parseListParams(rq, "max-keys")
	if err != nil {
		return err
	}
	marker := rq.query.Get("marker")
	page, err := h.list(rq, p, marker)
	if err != nil {
		return err
	}
	m := encodeKey(marker, p.encode)
	res := listBucketResult{
		Xmlns: s3Namespace, Name: rq.bucket, Prefix: encodeKey(p.prefix, p.encode), Marker: &m,
		MaxKeys: p.max, Delimiter: encodeKey(p.delimiter, p.encode), IsTruncated: page.Truncated,
	}
	if p.encode {
		res.EncodingType = "url"
	}
	if page.Truncated {
		// S3 sends NextMarker only with a delimiter; sending it always
		// spares clients guessing it from the last key.
		res.NextMarker = encodeKey(page.Next, p.encode)
	}
	ow := ownerOf(rq)
	fill(&res, page, p, &ow)
	writeXML(w, http.StatusOK, res)
	return nil
}
