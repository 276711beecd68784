package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// memBackend is the tests' Backend: metadata in maps, bytes in files under
// a temporary directory, so large bodies never sit in memory.
type memBackend struct {
	mu      sync.Mutex
	dir     string
	now     func() time.Time
	keys    map[string][2]string // access key -> secret, account
	buckets map[string]*memBucket
	uploads map[string]*memUpload
	seq     int
	puts    int   // committed PutObject/UploadPart calls
	putErr  error // what PutObject answers instead of storing, when set
}

// failPut makes PutObject fail with err after reading its body (nil: stop).
func (m *memBackend) failPut(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putErr = err
}

type memBucket struct {
	owner   string
	created time.Time
	objects map[string]memObject
	sorted  []string
}

type memObject struct {
	Object
	path string
}

type memUpload struct {
	account, bucket, key string
	meta                 Meta
	initiated            time.Time
	parts                map[int]memPart
}

type memPart struct {
	Part
	path string
}

func newMemBackend(dir string) *memBackend {
	return &memBackend{
		dir: dir, now: time.Now,
		keys:    map[string][2]string{},
		buckets: map[string]*memBucket{},
		uploads: map[string]*memUpload{},
	}
}

func (m *memBackend) addKey(id, secret, account string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[id] = [2]string{secret, account}
}

func (m *memBackend) Secret(_ context.Context, id string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return "", "", ErrInvalidAccessKeyID
	}
	return k[0], k[1], nil
}

func (m *memBackend) ListBuckets(_ context.Context, account string) ([]Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Bucket
	for name, b := range m.buckets {
		if b.owner == account {
			out = append(out, Bucket{Name: name, Created: b.created})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memBackend) CreateBucket(_ context.Context, account, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[bucket]; ok {
		if b.owner == account {
			return ErrBucketAlreadyOwnedByYou
		}
		return ErrBucketAlreadyExists
	}
	m.buckets[bucket] = &memBucket{owner: account, created: m.now(), objects: map[string]memObject{}}
	return nil
}

// bucket finds a bucket the account owns; the caller holds mu.
func (m *memBackend) bucket(account, bucket string) (*memBucket, error) {
	b, ok := m.buckets[bucket]
	if !ok {
		return nil, ErrNoSuchBucket
	}
	if b.owner != account {
		return nil, ErrAccessDenied
	}
	return b, nil
}

func (m *memBackend) DeleteBucket(_ context.Context, account, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(account, bucket)
	if err != nil {
		return err
	}
	if len(b.objects) > 0 {
		return ErrBucketNotEmpty
	}
	delete(m.buckets, bucket)
	return nil
}

func (m *memBackend) HeadBucket(_ context.Context, account, bucket string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.bucket(account, bucket)
	return err
}

// prefixEnd is the least string above every string that starts with p
// ("" when there is none).
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

func (m *memBackend) ListObjects(_ context.Context, account, bucket string, q ListQuery) (ListPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(account, bucket)
	if err != nil {
		return ListPage{}, err
	}
	keys := b.sorted
	seek := func(k string) int {
		if k == "" {
			return len(keys)
		}
		return sort.SearchStrings(keys, k)
	}
	// commonPrefix is the prefix k folds into under q, or "".
	commonPrefix := func(k string) string {
		if q.Delimiter == "" || !strings.HasPrefix(k, q.Prefix) {
			return ""
		}
		if j := strings.Index(k[len(q.Prefix):], q.Delimiter); j >= 0 {
			return k[:len(q.Prefix)+j+len(q.Delimiter)]
		}
		return ""
	}
	i := sort.SearchStrings(keys, q.Prefix)
	if q.After != "" {
		start := q.After + "\x00"
		if cp := commonPrefix(q.After); cp == q.After {
			start = prefixEnd(cp)
		}
		i = max(i, seek(start))
	}
	var page ListPage
	for n := 0; i < len(keys) && strings.HasPrefix(keys[i], q.Prefix); n++ {
		if n == q.Max {
			page.Truncated = true
			break
		}
		k := keys[i]
		if cp := commonPrefix(k); cp != "" {
			page.CommonPrefixes = append(page.CommonPrefixes, cp)
			page.Next = cp
			i = seek(prefixEnd(cp))
			continue
		}
		page.Objects = append(page.Objects, b.objects[k].Object)
		page.Next = k
		i++
	}
	return page, nil
}

// spool writes r to a new file; on any error the file is removed.
func (m *memBackend) spool(r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(m.dir, "obj-*")
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	return f.Name(), n, nil
}

func (m *memBackend) PutObject(ctx context.Context, account, bucket, key string, in ObjectInput) (Object, error) {
	if err := m.HeadBucket(ctx, account, bucket); err != nil {
		return Object{}, err
	}
	path, n, err := m.spool(in.Body)
	if err != nil {
		return Object{}, err
	}
	m.mu.Lock()
	err = m.putErr
	m.mu.Unlock()
	if err != nil {
		os.Remove(path)
		return Object{}, fmt.Errorf("store: %w", err)
	}
	if n != in.Size {
		os.Remove(path)
		return Object{}, fmt.Errorf("stored %d bytes of %d", n, in.Size)
	}
	obj := Object{Key: key, Size: n, ETag: in.ETag(), LastModified: m.now(), Meta: in.Meta}
	if err := m.commit(account, bucket, memObject{Object: obj, path: path}); err != nil {
		return Object{}, err
	}
	m.mu.Lock()
	m.puts++
	m.mu.Unlock()
	return obj, nil
}

// commit stores o, whose bytes are in o.path, in the bucket; the file is
// removed when that fails.
func (m *memBackend) commit(account, bucket string, o memObject) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(account, bucket)
	if err != nil {
		os.Remove(o.path)
		return err
	}
	m.put(b, o)
	return nil
}

// put stores o in b, replacing an earlier object; the caller holds mu.
func (m *memBackend) put(b *memBucket, o memObject) {
	if old, ok := b.objects[o.Key]; ok {
		os.Remove(old.path)
	} else {
		i := sort.SearchStrings(b.sorted, o.Key)
		b.sorted = append(b.sorted, "")
		copy(b.sorted[i+1:], b.sorted[i:])
		b.sorted[i] = o.Key
	}
	b.objects[o.Key] = o
}

func (m *memBackend) object(account, bucket, key string) (memObject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(account, bucket)
	if err != nil {
		return memObject{}, err
	}
	o, ok := b.objects[key]
	if !ok {
		return memObject{}, ErrNoSuchKey
	}
	return o, nil
}

func (m *memBackend) HeadObject(_ context.Context, account, bucket, key string) (Object, error) {
	o, err := m.object(account, bucket, key)
	return o.Object, err
}

type sectionFile struct {
	io.Reader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

func (m *memBackend) GetObject(_ context.Context, account, bucket, key string, off, length int64) (Object, io.ReadCloser, error) {
	o, err := m.object(account, bucket, key)
	if err != nil {
		return Object{}, nil, err
	}
	f, err := os.Open(o.path)
	if err != nil {
		return Object{}, nil, err
	}
	if length < 0 {
		length = o.Size - off
	}
	return o.Object, sectionFile{io.NewSectionReader(f, off, length), f}, nil
}

func (m *memBackend) DeleteObject(_ context.Context, account, bucket, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(account, bucket)
	if err != nil {
		return err
	}
	o, ok := b.objects[key]
	if !ok {
		return nil
	}
	os.Remove(o.path)
	delete(b.objects, key)
	i := sort.SearchStrings(b.sorted, key)
	b.sorted = append(b.sorted[:i], b.sorted[i+1:]...)
	return nil
}

func (m *memBackend) CopyObject(ctx context.Context, account, srcBucket, srcKey, dstBucket, dstKey string, meta *Meta) (Object, error) {
	src, err := m.object(account, srcBucket, srcKey)
	if err != nil {
		return Object{}, err
	}
	if err := m.HeadBucket(ctx, account, dstBucket); err != nil {
		return Object{}, err
	}
	f, err := os.Open(src.path)
	if err != nil {
		return Object{}, err
	}
	path, _, err := m.spool(f)
	f.Close()
	if err != nil {
		return Object{}, err
	}
	obj := src.Object
	obj.Key = dstKey
	obj.LastModified = m.now()
	if meta != nil {
		obj.Meta = *meta
	}
	if err := m.commit(account, dstBucket, memObject{Object: obj, path: path}); err != nil {
		return Object{}, err
	}
	return obj, nil
}

func (m *memBackend) CreateMultipartUpload(ctx context.Context, account, bucket, key string, meta Meta) (string, error) {
	if err := m.HeadBucket(ctx, account, bucket); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	id := fmt.Sprintf("upload-%d", m.seq)
	m.uploads[id] = &memUpload{account: account, bucket: bucket, key: key, meta: meta, initiated: m.now(), parts: map[int]memPart{}}
	return id, nil
}

// upload finds an upload; the caller holds mu.
func (m *memBackend) upload(account, bucket, key, id string) (*memUpload, error) {
	u, ok := m.uploads[id]
	if !ok || u.bucket != bucket || u.key != key {
		return nil, ErrNoSuchUpload
	}
	if u.account != account {
		return nil, ErrAccessDenied
	}
	return u, nil
}

func (m *memBackend) UploadPart(_ context.Context, account, bucket, key, id string, part int, in ObjectInput) (string, error) {
	m.mu.Lock()
	_, err := m.upload(account, bucket, key, id)
	m.mu.Unlock()
	if err != nil {
		return "", err
	}
	path, n, err := m.spool(in.Body)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(account, bucket, key, id)
	if err != nil {
		os.Remove(path)
		return "", err
	}
	if old, ok := u.parts[part]; ok {
		os.Remove(old.path)
	}
	u.parts[part] = memPart{Part: Part{Number: part, ETag: in.ETag(), Size: n, LastModified: m.now()}, path: path}
	m.puts++
	return in.ETag(), nil
}

func (m *memBackend) CompleteMultipartUpload(_ context.Context, account, bucket, key, id string, parts []CompletedPart, etag string) (Object, error) {
	m.mu.Lock()
	u, err := m.upload(account, bucket, key, id)
	var files []string
	var size int64
	if err == nil {
		for _, p := range parts {
			sp, ok := u.parts[p.Number]
			if !ok || sp.ETag != p.ETag {
				err = ErrInvalidPart
				break
			}
			files = append(files, sp.path)
			size += sp.Size
		}
	}
	m.mu.Unlock()
	if err != nil {
		return Object{}, err
	}
	readers := make([]io.Reader, 0, len(files))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return Object{}, err
		}
		defer f.Close()
		readers = append(readers, f)
	}
	path, _, err := m.spool(io.MultiReader(readers...))
	if err != nil {
		return Object{}, err
	}
	obj := Object{Key: key, Size: size, ETag: etag, LastModified: m.now(), Meta: u.meta}
	if err := m.commit(account, bucket, memObject{Object: obj, path: path}); err != nil {
		return Object{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.uploads[id]; ok {
		m.dropUpload(id)
	}
	return obj, nil
}

// dropUpload removes an upload and its part files; the caller holds mu.
func (m *memBackend) dropUpload(id string) {
	for _, p := range m.uploads[id].parts {
		os.Remove(p.path)
	}
	delete(m.uploads, id)
}

func (m *memBackend) AbortMultipartUpload(_ context.Context, account, bucket, key, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.upload(account, bucket, key, id); err != nil {
		return err
	}
	m.dropUpload(id)
	return nil
}

func (m *memBackend) ListParts(_ context.Context, account, bucket, key, id string, after, maxN int) (PartsPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.upload(account, bucket, key, id)
	if err != nil {
		return PartsPage{}, err
	}
	var nums []int
	for n := range u.parts {
		if n > after {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	var page PartsPage
	for i, n := range nums {
		if i == maxN {
			page.Truncated = true
			break
		}
		page.Parts = append(page.Parts, u.parts[n].Part)
	}
	return page, nil
}

func (m *memBackend) ListMultipartUploads(_ context.Context, account, bucket string, q UploadsQuery) (UploadsPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ups []Upload
	for id, u := range m.uploads {
		if u.account == account && u.bucket == bucket && strings.HasPrefix(u.key, q.Prefix) &&
			(u.key > q.KeyMarker || (u.key == q.KeyMarker && id > q.UploadIDMarker)) {
			ups = append(ups, Upload{Key: u.key, UploadID: id, Initiated: u.initiated})
		}
	}
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return ups[i].UploadID < ups[j].UploadID
	})
	var page UploadsPage
	if len(ups) > q.Max {
		ups, page.Truncated = ups[:q.Max], true
	}
	page.Uploads = ups
	return page, nil
}

// files counts the object and part files on disk: what was committed.
func (m *memBackend) files() int {
	ents, _ := os.ReadDir(m.dir)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "obj-") {
			n++
		}
	}
	return n
}
