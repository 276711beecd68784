package s3

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func (h *Handler) createUpload(w *responseWriter, rq *request) error {
	meta, err := metaFromHeaders(rq.Header)
	if err != nil {
		return err
	}
	id, err := h.backend.CreateMultipartUpload(rq.Context(), rq.id.account, rq.bucket, rq.key, meta)
	if err != nil {
		return fmt.Errorf("create multipart upload: %w", err)
	}
	writeXML(w, http.StatusOK, initiateMultipartUploadResult{Xmlns: s3Namespace, Bucket: rq.bucket, Key: rq.key, UploadID: id})
	return nil
}

// partOf reads ?partNumber (1 to 10000) and ?uploadId.
func partOf(rq *request) (part int, id string, err error) {
	part, err = strconv.Atoi(rq.query.Get("partNumber"))
	if err != nil || part < 1 || part > maxParts {
		return 0, "", errInvalidArgument.withMessage("Part number must be an integer between 1 and 10000, inclusive")
	}
	id, err = uploadID(rq)
	return part, id, err
}

// uploadID reads ?uploadId; an empty one names no upload.
func uploadID(rq *request) (string, error) {
	id := rq.query.Get("uploadId")
	if id == "" {
		return "", errNoSuchUpload
	}
	return id, nil
}

func (h *Handler) uploadPart(w *responseWriter, rq *request) error {
	part, id, err := partOf(rq)
	if err != nil {
		return err
	}
	b, err := h.bodyInput(rq, Meta{})
	if err != nil {
		return err
	}
	defer b.Close()
	etag, err := h.backend.UploadPart(rq.Context(), rq.id.account, rq.bucket, rq.key, id, part, b.input(Meta{}))
	if err := h.stored(rq, b, err); err != nil {
		return fmt.Errorf("upload part: %w", err)
	}
	answerStored(w, b, etag)
	return nil
}

// uploadPartCopy copies a source object's bytes (or a range of them,
// x-amz-copy-source-range) into a part, streamed through the same checks
// as an uploaded part.
func (h *Handler) uploadPartCopy(w *responseWriter, rq *request) error {
	part, id, err := partOf(rq)
	if err != nil {
		return err
	}
	sb, sk, err := copySource(rq)
	if err != nil {
		return err
	}
	if err := h.checkCopyConditions(rq, sb, sk); err != nil {
		return err
	}
	ctx := rq.Context()
	src, err := h.backend.HeadObject(ctx, rq.id.account, sb, sk)
	if err != nil {
		return fmt.Errorf("head copy source: %w", err)
	}
	off, length := int64(0), src.Size
	if r := rq.Header.Get("X-Amz-Copy-Source-Range"); r != "" {
		var ranged bool
		off, length, ranged, err = parseRange(r, src.Size)
		if err != nil || !ranged || !strings.HasPrefix(r, "bytes=") || strings.HasPrefix(r, "bytes=-") {
			return errInvalidArgument.withMessage("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
	}
	if length > h.cfg.MaxObjectSize {
		return errEntityTooLarge
	}
	_, rc, err := h.backend.GetObject(ctx, rq.id.account, sb, sk, off, length)
	if err != nil {
		return fmt.Errorf("read copy source: %w", err)
	}
	defer rc.Close()
	b := newBody(rc, length)
	defer b.Close()
	if length == 0 {
		if err := b.finish(); err != nil {
			return err
		}
	}
	etag, err := h.backend.UploadPart(ctx, rq.id.account, rq.bucket, rq.key, id, part, b.input(Meta{}))
	if err := h.stored(rq, b, err); err != nil {
		return fmt.Errorf("upload part copy: %w", err)
	}
	if etag == "" {
		etag = b.ETag()
	}
	writeXML(w, http.StatusOK, copyResult{XMLName: xml.Name{Local: "CopyPartResult"}, Xmlns: s3Namespace, ETag: quote(etag), LastModified: xmlTime(h.cfg.Now())})
	return nil
}

func (h *Handler) completeUpload(w *responseWriter, rq *request) error {
	id, err := uploadID(rq)
	if err != nil {
		return err
	}
	// Here x-amz-checksum-* headers state the whole object's checksum,
	// not the XML body's: leave them out of the body's checks.
	r := rq.Clone(rq.Context())
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			delete(r.Header, k)
		}
	}
	var req completeMultipartUpload
	if err := readXMLFrom(r, rq, &req); err != nil {
		return err
	}
	if len(req.Parts) == 0 || len(req.Parts) > maxParts {
		return errMalformedXML.withMessage("The XML you provided was not well-formed or did not validate against our published schema")
	}
	parts := make([]CompletedPart, len(req.Parts))
	for i, p := range req.Parts {
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return errInvalidPartOrder
		}
		parts[i] = CompletedPart{Number: p.PartNumber, ETag: strings.Trim(strings.TrimSpace(p.ETag), `"`)}
	}
	stored, err := h.allParts(rq, id)
	if err != nil {
		return err
	}
	etags := make([]string, len(parts))
	for i, p := range parts {
		if s, ok := stored[p.Number]; !ok || s.ETag != p.ETag {
			return errInvalidPart
		}
		etags[i] = p.ETag
	}
	for _, p := range parts[:len(parts)-1] {
		if stored[p.Number].Size < minPartSize {
			return errEntityTooSmall
		}
	}
	etag := MultipartETag(etags)
	obj, err := h.backend.CompleteMultipartUpload(rq.Context(), rq.id.account, rq.bucket, rq.key, id, parts, etag)
	if err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	if obj.ETag != "" {
		etag = obj.ETag
	}
	writeXML(w, http.StatusOK, completeMultipartUploadResult{
		Xmlns: s3Namespace, Location: "/" + rq.bucket + "/" + rq.key,
		Bucket: rq.bucket, Key: rq.key, ETag: quote(etag),
	})
	return nil
}

// allParts lists every stored part of an upload, by number.
func (h *Handler) allParts(rq *request, id string) (map[int]Part, error) {
	out := map[int]Part{}
	after := 0
	for {
		page, err := h.backend.ListParts(rq.Context(), rq.id.account, rq.bucket, rq.key, id, after, maxListKeys)
		if err != nil {
			return nil, fmt.Errorf("list parts: %w", err)
		}
		for _, p := range page.Parts {
			out[p.Number] = p
			after = max(after, p.Number)
		}
		if !page.Truncated || len(page.Parts) == 0 {
			return out, nil
		}
	}
}

func (h *Handler) abortUpload(w *responseWriter, rq *request) error {
	id, err := uploadID(rq)
	if err != nil {
		return err
	}
	if err := h.backend.AbortMultipartUpload(rq.Context(), rq.id.account, rq.bucket, rq.key, id); err != nil {
		return fmt.Errorf("abort multipart upload: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// intParam reads a non-negative integer query parameter, def when absent.
func intParam(rq *request, name string, def int) (int, error) {
	v := rq.query.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalidArgument.withMessage(name + " must be a non-negative integer")
	}
	return n, nil
}

func (h *Handler) listParts(w *responseWriter, rq *request) error {
	id, err := uploadID(rq)
	if err != nil {
		return err
	}
	after, err := intParam(rq, "part-number-marker", 0)
	if err != nil {
		return err
	}
	maxN, err := intParam(rq, "max-parts", maxListKeys)
	if err != nil {
		return err
	}
	maxN = min(maxN, maxListKeys)
	page, err := h.backend.ListParts(rq.Context(), rq.id.account, rq.bucket, rq.key, id, after, maxN)
	if err != nil {
		return fmt.Errorf("list parts: %w", err)
	}
	res := listPartsResult{
		Xmlns: s3Namespace, Bucket: rq.bucket, Key: rq.key, UploadID: id,
		Initiator: ownerOf(rq), Owner: ownerOf(rq), StorageClass: "STANDARD",
		PartNumberMarker: after, MaxParts: maxN, IsTruncated: page.Truncated,
	}
	for _, p := range page.Parts {
		res.Parts = append(res.Parts, partEntry{PartNumber: p.Number, LastModified: xmlTime(p.LastModified), ETag: quote(p.ETag), Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (h *Handler) listUploads(w *responseWriter, rq *request) error {
	maxN, err := intParam(rq, "max-uploads", maxListKeys)
	if err != nil {
		return err
	}
	q := UploadsQuery{
		Prefix: rq.query.Get("prefix"), KeyMarker: rq.query.Get("key-marker"),
		UploadIDMarker: rq.query.Get("upload-id-marker"), Max: min(maxN, maxListKeys),
	}
	if err := h.backend.HeadBucket(rq.Context(), rq.id.account, rq.bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	page, err := h.backend.ListMultipartUploads(rq.Context(), rq.id.account, rq.bucket, q)
	if err != nil {
		return fmt.Errorf("list multipart uploads: %w", err)
	}
	res := listMultipartUploadsResult{
		Xmlns: s3Namespace, Bucket: rq.bucket, KeyMarker: q.KeyMarker, UploadIDMarker: q.UploadIDMarker,
		Prefix: q.Prefix, MaxUploads: q.Max, IsTruncated: page.Truncated,
	}
	for _, u := range page.Uploads {
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: u.Key, UploadID: u.UploadID, Initiator: ownerOf(rq), Owner: ownerOf(rq),
			StorageClass: "STANDARD", Initiated: xmlTime(u.Initiated),
		})
	}
	if page.Truncated && len(page.Uploads) > 0 {
		last := page.Uploads[len(page.Uploads)-1]
		res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
	}
	writeXML(w, http.StatusOK, res)
	return nil
}
