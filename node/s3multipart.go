package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/ipfs/go-cid"

	"github.com/ddsnet/dds/chunk"
	"github.com/ddsnet/dds/node/s3"
)

// Multipart uploads live on the gateway node that took them, until they
// complete: each part is staged in the chunk store under a pin of its own
// ("s3part/<upload>/<n>"), described by one small file per upload in the
// data dir. Completing one puts the parts' manifests together into the
// object's (no byte is copied when every part but the last is a whole
// number of chunks, as the parts of aws-cli, rclone and the SDKs are), and
// the object is then quoted, paid and stored like any other. A part sent
// again replaces the earlier one. An upload neither completed nor aborted
// is dropped after MultipartTTL.

// MultipartTTL is how long an upload in progress is kept.
const MultipartTTL = 7 * 24 * time.Hour

const partPrefix = "s3part/"

// mpUpload is one multipart upload in progress.
type mpUpload struct {
	ID        string         `json:"id"`
	Account   string         `json:"account"`
	Bucket    string         `json:"bucket"`
	Key       string         `json:"key"`
	Meta      s3.Meta        `json:"meta"`
	Initiated time.Time      `json:"initiated"`
	Parts     map[int]mpPart `json:"parts,omitempty"`
}

type mpPart struct {
	Root     string    `json:"root"` // the part's manifest
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"`
	Modified time.Time `json:"modified"`
}

func partOwner(id string, n int) string { return partPrefix + id + "/" + strconv.Itoa(n) }

// multipartStore keeps the uploads' descriptions, one file each.
type multipartStore struct {
	dir string
	mu  sync.Mutex // every read-modify-write of a description
}

func openMultipart(dir string) (*multipartStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("multipart uploads: %w", err)
	}
	return &multipartStore{dir: dir}, nil
}

func (m *multipartStore) path(id string) string { return filepath.Join(m.dir, id+".json") }

// load reads upload id; s3.ErrNoSuchUpload when there is none.
func (m *multipartStore) load(id string) (*mpUpload, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, s3.ErrNoSuchUpload
	}
	b, err := os.ReadFile(m.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, s3.ErrNoSuchUpload
	}
	if err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	var u mpUpload
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	return &u, nil
}

func (m *multipartStore) save(u *mpUpload) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("save upload %s: %w", u.ID, err)
	}
	if err := writeFileAtomic(m.path(u.ID), b, 0o600); err != nil {
		return fmt.Errorf("save upload %s: %w", u.ID, err)
	}
	return nil
}

// all lists every upload.
func (m *multipartStore) all() ([]*mpUpload, error) {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	var out []*mpUpload
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if u, err := m.load(id); err == nil {
			out = append(out, u)
		}
	}
	return out, nil
}

// upload returns the account's upload id for bucket and key.
func (s *S3Store) upload(account, bucket, key, id string) (*mpUpload, error) {
	u, err := s.mpu.load(id)
	if err != nil {
		return nil, err
	}
	if u.Account != account || u.Bucket != bucket || u.Key != key {
		return nil, s3.ErrNoSuchUpload
	}
	return u, nil
}

// CreateMultipartUpload implements s3.Backend.
func (s *S3Store) CreateMultipartUpload(ctx context.Context, account, bucket, key string, meta s3.Meta) (string, error) {
	if err := s.HeadBucket(ctx, account, bucket); err != nil {
		return "", err
	}
	s.pruneUploads(ctx)
	u := &mpUpload{ID: uuid.NewString(), Account: account, Bucket: bucket, Key: key, Meta: meta, Initiated: s.n.now()}
	s.mpu.mu.Lock()
	defer s.mpu.mu.Unlock()
	if err := s.mpu.save(u); err != nil {
		return "", err
	}
	return u.ID, nil
}

// UploadPart implements s3.Backend: the part is staged and pinned, then
// recorded, replacing a part of the same number.
func (s *S3Store) UploadPart(ctx context.Context, account, bucket, key, id string, part int, in s3.ObjectInput) (string, error) {
	if _, err := s.upload(account, bucket, key, id); err != nil {
		return "", err
	}
	n := s.n
	set, ok := n.settings()
	if !ok {
		return "", s3.ErrUnavailable
	}
	free := n.free()
	if free <= 0 || in.Size > free {
		return "", s3Err(n.full(free))
	}
	st, err := n.store.Stage(ctx, in.Body, set.ChunkSize, min(n.cfg.MaxUpload, free))
	if err != nil {
		if errors.Is(err, chunk.ErrTooLarge) {
			return "", s3.ErrEntityTooLarge
		}
		return "", s3Err(fmt.Errorf("stage part: %w", n.noSpace(err)))
	}
	defer st.Release()
	owner := partOwner(id, part)
	if err := st.Pin(ctx, owner); err != nil {
		return "", s3Err(fmt.Errorf("stage part: %w", n.noSpace(err)))
	}
	etag := in.ETag()
	s.mpu.mu.Lock()
	defer s.mpu.mu.Unlock()
	u, err := s.upload(account, bucket, key, id)
	if err != nil {
		// Aborted or completed while the part came in.
		_ = n.store.Unpin(context.WithoutCancel(ctx), owner)
		return "", err
	}
	if u.Parts == nil {
		u.Parts = map[int]mpPart{}
	}
	u.Parts[part] = mpPart{Root: st.Root().String(), Size: st.Manifest().Size, ETag: etag, Modified: n.now()}
	if err := s.mpu.save(u); err != nil {
		return "", err
	}
	return etag, nil
}

// ListParts implements s3.Backend.
func (s *S3Store) ListParts(_ context.Context, account, bucket, key, id string, after, max int) (s3.PartsPage, error) {
	u, err := s.upload(account, bucket, key, id)
	if err != nil {
		return s3.PartsPage{}, err
	}
	nums := make([]int, 0, len(u.Parts))
	for num := range u.Parts {
		if num > after {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	var page s3.PartsPage
	for _, num := range nums {
		if len(page.Parts) == max {
			page.Truncated = true
			break
		}
		p := u.Parts[num]
		page.Parts = append(page.Parts, s3.Part{Number: num, ETag: p.ETag, Size: p.Size, LastModified: p.Modified})
	}
	return page, nil
}

// ListMultipartUploads implements s3.Backend: the uploads in progress on
// this node.
func (s *S3Store) ListMultipartUploads(ctx context.Context, account, bucket string, q s3.UploadsQuery) (s3.UploadsPage, error) {
	if err := s.HeadBucket(ctx, account, bucket); err != nil {
		return s3.UploadsPage{}, err
	}
	all, err := s.mpu.all()
	if err != nil {
		return s3.UploadsPage{}, err
	}
	var ups []*mpUpload
	for _, u := range all {
		if u.Account == account && u.Bucket == bucket && strings.HasPrefix(u.Key, q.Prefix) &&
			(u.Key > q.KeyMarker || u.Key == q.KeyMarker && u.ID > q.UploadIDMarker) {
			ups = append(ups, u)
		}
	}
	slices.SortFunc(ups, func(a, b *mpUpload) int { return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ID, b.ID)) })
	var page s3.UploadsPage
	for _, u := range ups {
		if len(page.Uploads) == q.Max {
			page.Truncated = true
			break
		}
		page.Uploads = append(page.Uploads, s3.Upload{Key: u.Key, UploadID: u.ID, Initiated: u.Initiated})
	}
	return page, nil
}

// AbortMultipartUpload implements s3.Backend.
func (s *S3Store) AbortMultipartUpload(ctx context.Context, account, bucket, key, id string) error {
	s.mpu.mu.Lock()
	defer s.mpu.mu.Unlock()
	u, err := s.upload(account, bucket, key, id)
	if err != nil {
		return err
	}
	return s.dropUpload(ctx, u)
}

// dropUpload forgets an upload and lets its parts go (mpu.mu held).
func (s *S3Store) dropUpload(ctx context.Context, u *mpUpload) error {
	if err := os.Remove(s.mpu.path(u.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("drop upload %s: %w", u.ID, err)
	}
	var errs []error
	for num := range u.Parts {
		if err := s.n.store.Unpin(context.WithoutCancel(ctx), partOwner(u.ID, num)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(u.Parts) > 0 {
		kick(s.n.gcKick)
	}
	return errors.Join(errs...)
}

// pruneUploads drops the uploads older than MultipartTTL.
func (s *S3Store) pruneUploads(ctx context.Context) {
	all, err := s.mpu.all()
	if err != nil {
		return
	}
	s.mpu.mu.Lock()
	defer s.mpu.mu.Unlock()
	for _, u := range all {
		if s.n.now().Sub(u.Initiated) > MultipartTTL {
			if err := s.dropUpload(ctx, u); err != nil {
				s.n.log.Warn("drop stale multipart upload", "upload", u.ID, "err", err)
			}
		}
	}
}

// CompleteMultipartUpload implements s3.Backend.
func (s *S3Store) CompleteMultipartUpload(ctx context.Context, account, bucket, key, id string, parts []s3.CompletedPart, etag string) (s3.Object, error) {
	by, err := s.caller(account)
	if err != nil {
		return s3.Object{}, err
	}
	u, err := s.upload(account, bucket, key, id)
	if err != nil {
		return s3.Object{}, err
	}
	if err := s.HeadBucket(ctx, account, bucket); err != nil {
		return s3.Object{}, err
	}
	set, ok := s.n.settings()
	if !ok {
		return s3.Object{}, s3.ErrUnavailable
	}
	ms := make([]*chunk.Manifest, len(parts))
	aligned := true
	for i, cp := range parts {
		p, ok := u.Parts[cp.Number]
		if !ok || p.ETag != cp.ETag {
			return s3.Object{}, s3.ErrInvalidPart
		}
		root, err := cid.Decode(p.Root)
		if err != nil {
			return s3.Object{}, fmt.Errorf("part %d: %w", cp.Number, err)
		}
		if ms[i], err = s.n.store.Manifest(ctx, root); err != nil {
			return s3.Object{}, fmt.Errorf("part %d: %w", cp.Number, err)
		}
		aligned = aligned && ms[i].ChunkSize == set.ChunkSize && (i == len(parts)-1 || ms[i].Size%set.ChunkSize == 0)
	}
	up := Upload{Name: fileName(key), Duration: s.n.s3Term(), Additional: additionalOf(u.Meta.User), Owner: by}
	var f File
	if aligned {
		whole := &chunk.Manifest{ChunkSize: set.ChunkSize}
		for _, m := range ms {
			whole.Chunks = append(whole.Chunks, m.Chunks...)
			whole.Size += m.Size
		}
		f, err = s.n.uploadManifest(ctx, up, whole)
	} else {
		// Parts that do not end on a chunk's end: the object's chunks are
		// cut anew, reading the parts in order.
		var size int64
		for _, m := range ms {
			size += m.Size
		}
		pr := &partsReader{ctx: ctx, store: s.n.store, ms: ms}
		defer pr.Close()
		up.Body, up.MinSize = pr, size
		f, err = s.n.Upload(ctx, up)
	}
	if err != nil {
		return s3.Object{}, s3Err(err)
	}
	o, err := s.commit(ctx, by, bucket, key, f.ID, etag, u.Meta)
	if err != nil {
		return s3.Object{}, err
	}
	s.mpu.mu.Lock()
	defer s.mpu.mu.Unlock()
	if u, err := s.upload(account, bucket, key, id); err == nil {
		if err := s.dropUpload(ctx, u); err != nil {
			s.n.log.Warn("drop completed multipart upload", "upload", id, "err", err)
		}
	}
	return o, nil
}

// partsReader reads the parts' manifests one after another.
type partsReader struct {
	ctx   context.Context
	store *chunk.Store
	ms    []*chunk.Manifest
	cur   io.ReadCloser
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.ms) == 0 {
				return 0, io.EOF
			}
			rc, err := r.store.NewReader(r.ctx, r.ms[0], 0, r.ms[0].Size)
			if err != nil {
				return 0, err
			}
			r.cur, r.ms = rc, r.ms[1:]
		}
		n, err := r.cur.Read(p)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Close closes the part being read, if any.
func (r *partsReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
