package node

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/node/s3"
)

// S3Store is the node's storage for the S3 gateway: it implements
// s3.Backend over the ledger's buckets and objects and the node's files.
// An object is a dds file owned by the account, paid from its balance,
// stored like any other; PutObject answers once its holders are recorded
// (S3's durability promise).
type S3Store struct {
	n    *Node
	keys *s3Keys
	mpu  *multipartStore
}

var _ s3.Backend = (*S3Store)(nil)

// S3 returns the node's S3 storage, made at the first call.
func (n *Node) S3() (*S3Store, error) {
	n.s3Once.Do(func() {
		dir := filepath.Join(n.cfg.DataDir, "s3")
		keys, err := openS3Keys(n.cfg.DataDir)
		if err != nil {
			n.s3Err = err
			return
		}
		mpu, err := openMultipart(filepath.Join(dir, "uploads"))
		if err != nil {
			n.s3Err = err
			return
		}
		n.s3 = &S3Store{n: n, keys: keys, mpu: mpu}
	})
	return n.s3, n.s3Err
}

// s3Err turns a node error into what the gateway answers.
func s3Err(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed), errors.Is(err, ErrInsufficientStorage):
		return fmt.Errorf("%w: %w", s3.ErrUnavailable, err)
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w: %w", s3.ErrEntityTooLarge, err)
	case errors.Is(err, ErrPaymentRequired):
		return fmt.Errorf("%w: %w", s3.ErrPaymentRequired, err)
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrUnauthorized):
		return fmt.Errorf("%w: %w", s3.ErrAccessDenied, err)
	}
	return err
}

// Secret implements s3.Backend.
func (s *S3Store) Secret(_ context.Context, id string) (string, string, error) {
	key, ok := s.keys.get(id)
	if !ok {
		return "", "", s3.ErrInvalidAccessKeyID
	}
	return key.Secret, key.Account, nil
}

// caller is the account's caller, with the API key its consent is signed
// with.
func (s *S3Store) caller(account string) (Caller, error) {
	by, ok := s.keys.caller(account)
	if !ok {
		return Caller{}, fmt.Errorf("%w: no S3 key of account %s on this node", s3.ErrAccessDenied, account)
	}
	return by, nil
}

// current catches up with the ledger's leader: the gateway answers what
// was acknowledged anywhere (S3 is strongly consistent).
func (s *S3Store) current(ctx context.Context) error {
	if !s.n.catchUp(ctx) {
		return fmt.Errorf("%w: %w", s3.ErrUnavailable, errBehind)
	}
	return nil
}

// read runs fn on the ledger, caught up.
func (s *S3Store) read(ctx context.Context, fn func(st *billing.State)) error {
	if err := s.current(ctx); err != nil {
		return err
	}
	s.n.ledger.Read(fn)
	return nil
}

// bucket checks that bucket exists and is the account's.
func bucketErr(b billing.Bucket, ok bool, account string) error {
	switch {
	case !ok:
		return s3.ErrNoSuchBucket
	case b.Account != account:
		return s3.ErrAccessDenied
	}
	return nil
}

// ListBuckets implements s3.Backend.
func (s *S3Store) ListBuckets(ctx context.Context, account string) ([]s3.Bucket, error) {
	var bs []billing.Bucket
	if err := s.read(ctx, func(st *billing.State) { bs = st.Buckets(account) }); err != nil {
		return nil, err
	}
	out := make([]s3.Bucket, len(bs))
	for i, b := range bs {
		out[i] = s3.Bucket{Name: b.Name, Created: b.Created}
	}
	return out, nil
}

// CreateBucket implements s3.Backend.
func (s *S3Store) CreateBucket(ctx context.Context, account, name string) error {
	by, err := s.caller(account)
	if err != nil {
		return err
	}
	b, ok, gen, _, err := s.bucketState(ctx, name)
	if err != nil {
		return err
	}
	if ok {
		if b.Account == account {
			return s3.ErrBucketAlreadyOwnedByYou
		}
		return s3.ErrBucketAlreadyExists
	}
	_, err = s.n.apply(ctx, billing.Command{MakeBucket: &billing.MakeBucket{
		Name: name, Auth: *billing.Consent(account, by.APIKey, billing.MakeBucketMessage(account, name, gen)),
	}})
	if errors.Is(err, ErrConflict) {
		// Made meanwhile, through another node.
		if err := s.read(ctx, func(st *billing.State) { b, ok = st.Bucket(name) }); err == nil && ok && b.Account == account {
			return s3.ErrBucketAlreadyOwnedByYou
		}
		return s3.ErrBucketAlreadyExists
	}
	return s3Err(err)
}

// DeleteBucket implements s3.Backend.
func (s *S3Store) DeleteBucket(ctx context.Context, account, name string) error {
	by, err := s.caller(account)
	if err != nil {
		return err
	}
	b, ok, gen, keys, err := s.bucketState(ctx, name)
	if err != nil {
		return err
	}
	if err := bucketErr(b, ok, account); err != nil {
		return err
	}
	if keys > 0 {
		return s3.ErrBucketNotEmpty
	}
	_, err = s.n.apply(ctx, billing.Command{DropBucket: &billing.DropBucket{
		Name: name, Auth: *billing.Consent(account, by.APIKey, billing.DropBucketMessage(account, name, gen)),
	}})
	switch {
	case errors.Is(err, ErrConflict):
		return s3.ErrBucketNotEmpty
	case errors.Is(err, ErrNotFound):
		return s3.ErrNoSuchBucket
	}
	return s3Err(err)
}

// bucketState reads a bucket (ok false when there is none), its name's
// generation and its number of keys, caught up with the leader.
func (s *S3Store) bucketState(ctx context.Context, name string) (b billing.Bucket, ok bool, gen int64, keys int, err error) {
	err = s.read(ctx, func(st *billing.State) {
		b, ok = st.Bucket(name)
		gen, keys = st.BucketGen(name), st.BucketLen(name)
	})
	return b, ok, gen, keys, err
}

// HeadBucket implements s3.Backend.
func (s *S3Store) HeadBucket(ctx context.Context, account, name string) error {
	b, ok, _, _, err := s.bucketState(ctx, name)
	if err != nil {
		return err
	}
	return bucketErr(b, ok, account)
}

// ListObjects implements s3.Backend.
func (s *S3Store) ListObjects(ctx context.Context, account, bucket string, q s3.ListQuery) (s3.ListPage, error) {
	var b billing.Bucket
	var ok bool
	var l billing.ObjectList
	if err := s.read(ctx, func(st *billing.State) {
		if b, ok = st.Bucket(bucket); ok && b.Account == account {
			l = st.ListObjects(bucket, q.Prefix, q.Delimiter, q.After, q.Max)
		}
	}); err != nil {
		return s3.ListPage{}, err
	}
	if err := bucketErr(b, ok, account); err != nil {
		return s3.ListPage{}, err
	}
	page := s3.ListPage{CommonPrefixes: l.CommonPrefixes, Truncated: l.Truncated, Next: l.Next}
	page.Objects = make([]s3.Object, len(l.Objects))
	for i, o := range l.Objects {
		page.Objects[i] = objectOf(o, nil)
	}
	return page, nil
}

// objectOf is a ledger object as the gateway shows it; its user metadata
// is its file's additional attributes that are strings (nil: none known).
func objectOf(o billing.Object, additional map[string]json.RawMessage) s3.Object {
	out := s3.Object{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.Modified}
	h := o.Headers
	out.ContentType = h["content-type"]
	out.ContentDisposition = h["content-disposition"]
	out.ContentEncoding = h["content-encoding"]
	out.ContentLanguage = h["content-language"]
	out.CacheControl = h["cache-control"]
	out.Expires = h["expires"]
	for k, v := range additional {
		var str string
		if json.Unmarshal(v, &str) == nil {
			if out.User == nil {
				out.User = map[string]string{}
			}
			out.User[k] = str
		}
	}
	return out
}

// headersOf is what the ledger keeps of an object's metadata besides the
// user's (which goes into its file's additional attributes).
func headersOf(m s3.Meta) map[string]string {
	h := map[string]string{}
	for k, v := range map[string]string{
		"content-type": m.ContentType, "content-disposition": m.ContentDisposition,
		"content-encoding": m.ContentEncoding, "content-language": m.ContentLanguage,
		"cache-control": m.CacheControl, "expires": m.Expires,
	} {
		if v != "" {
			h[k] = v
		}
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

// additionalOf is the user metadata as additional attributes.
func additionalOf(user map[string]string) map[string]json.RawMessage {
	if len(user) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(user))
	for k, v := range user {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// fileName is the dds file name of an object: its key's last segment,
// cut to what a file name takes.
func fileName(key string) string {
	name := path.Base(strings.TrimRight(key, "/"))
	if name == "." || name == "/" || name == "" {
		name = "object"
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '_'
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// lookup returns the object at key, caught up; s3.ErrNoSuchBucket,
// ErrAccessDenied or ErrNoSuchKey when there is none for the account.
func (s *S3Store) lookup(ctx context.Context, account, bucket, key string) (billing.Object, billing.File, error) {
	var b billing.Bucket
	var ok, found bool
	var o billing.Object
	var f billing.File
	if err := s.read(ctx, func(st *billing.State) {
		b, ok = st.Bucket(bucket)
		o, f, found = st.ObjectAt(bucket, key)
	}); err != nil {
		return o, f, err
	}
	if err := bucketErr(b, ok, account); err != nil {
		return o, f, err
	}
	if !found {
		return o, f, s3.ErrNoSuchKey
	}
	return o, f, nil
}

// PutObject implements s3.Backend: the body becomes a file owned by the
// account, paid from its balance and stored on its holders, then the key
// names it.
func (s *S3Store) PutObject(ctx context.Context, account, bucket, key string, in s3.ObjectInput) (s3.Object, error) {
	by, err := s.caller(account)
	if err != nil {
		return s3.Object{}, err
	}
	if err := s.HeadBucket(ctx, account, bucket); err != nil {
		return s3.Object{}, err
	}
	f, err := s.n.Upload(ctx, Upload{Name: fileName(key), Duration: s.n.s3Term(), Additional: additionalOf(in.Meta.User),
		Body: in.Body, MinSize: max(in.Size, 0), Owner: by})
	if err != nil {
		return s3.Object{}, s3Err(err)
	}
	if f.Size != in.Size && in.Size >= 0 {
		return s3.Object{}, fmt.Errorf("put object: read %d bytes of %d", f.Size, in.Size)
	}
	return s.commit(ctx, by, bucket, key, f.ID, in.ETag(), in.Meta)
}

// commit pays an uploaded file from the balance, waits until it is
// stored, and puts it under key.
func (s *S3Store) commit(ctx context.Context, by Caller, bucket, key, fileID, etag string, meta s3.Meta) (s3.Object, error) {
	if _, _, err := s.n.PayFromBalance(ctx, fileID, by); err != nil {
		return s3.Object{}, s3Err(err)
	}
	if err := s.n.waitStored(ctx, fileID, s.n.s3StoreTimeout()); err != nil {
		return s3.Object{}, s3Err(err)
	}
	h := headersOf(meta)
	res, err := s.n.apply(ctx, billing.Command{PutObject: &billing.PutObject{
		Bucket: bucket, Key: key, FileID: fileID, ETag: etag, Headers: h,
		Auth: *billing.Consent(by.Account, by.APIKey, billing.PutObjectMessage(by.Account, bucket, key, fileID, etag, h)),
	}})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return s3.Object{}, s3.ErrNoSuchBucket // deleted meanwhile
		}
		return s3.Object{}, s3Err(err)
	}
	s.n.kickExpire(res)
	// The object as the ledger put it (a read of the key now could see a
	// put through another node that came after this one).
	return objectOf(*res.Object, additionalOf(meta.User)), nil
}

// HeadObject implements s3.Backend.
func (s *S3Store) HeadObject(ctx context.Context, account, bucket, key string) (s3.Object, error) {
	o, f, err := s.lookup(ctx, account, bucket, key)
	if err != nil {
		return s3.Object{}, err
	}
	return objectOf(o, f.Additional), nil
}

// GetObject implements s3.Backend.
func (s *S3Store) GetObject(ctx context.Context, account, bucket, key string, off, length int64) (s3.Object, io.ReadCloser, error) {
	o, f, err := s.lookup(ctx, account, bucket, key)
	if err != nil {
		return s3.Object{}, nil, err
	}
	if length < 0 {
		length = o.Size - off
	}
	rc, err := s.n.Read(ctx, o.FileID, off, length)
	if errors.Is(err, ErrGone) || errors.Is(err, ErrNotFound) {
		return s3.Object{}, nil, s3.ErrNoSuchKey // its lease ended meanwhile
	}
	if err != nil {
		return s3.Object{}, nil, s3Err(err)
	}
	return objectOf(o, f.Additional), rc, nil
}

// DeleteObject implements s3.Backend: the key goes and its file's lease
// ends.
func (s *S3Store) DeleteObject(ctx context.Context, account, bucket, key string) error {
	by, err := s.caller(account)
	if err != nil {
		return err
	}
	o, _, err := s.lookup(ctx, account, bucket, key)
	if errors.Is(err, s3.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		return err
	}
	refs := []billing.ObjectRef{{Key: key, FileID: o.FileID}}
	res, err := s.n.apply(ctx, billing.Command{DeleteObjects: &billing.DeleteObjects{
		Bucket: bucket, Objects: refs, Auth: *billing.Consent(account, by.APIKey, billing.DeleteObjectsMessage(account, bucket, refs)),
	}})
	if err != nil {
		return s3Err(err)
	}
	s.n.kickExpire(res)
	return nil
}

// CopyObject implements s3.Backend: the bytes are read through the node
// and stored as a new file (their chunks are shared in every store that
// holds both).
func (s *S3Store) CopyObject(ctx context.Context, account, srcBucket, srcKey, dstBucket, dstKey string, meta *s3.Meta) (s3.Object, error) {
	by, err := s.caller(account)
	if err != nil {
		return s3.Object{}, err
	}
	src, sf, err := s.lookup(ctx, account, srcBucket, srcKey)
	if err != nil {
		return s3.Object{}, err
	}
	if err := s.HeadBucket(ctx, account, dstBucket); err != nil {
		return s3.Object{}, err
	}
	m := objectOf(src, sf.Additional).Meta
	if meta != nil {
		m = *meta
	}
	rc, err := s.n.Read(ctx, src.FileID, 0, src.Size)
	if err != nil {
		return s3.Object{}, s3Err(err)
	}
	defer rc.Close()
	h := md5.New()
	f, err := s.n.Upload(ctx, Upload{Name: fileName(dstKey), Duration: s.n.s3Term(), Additional: additionalOf(m.User),
		Body: io.TeeReader(rc, h), MinSize: src.Size, Owner: by})
	if err != nil {
		return s3.Object{}, s3Err(err)
	}
	etag := hex.EncodeToString(h.Sum(nil))
	if strings.Contains(src.ETag, "-") {
		etag = src.ETag // a multipart object's copy keeps its ETag's form, as clients compare it
	}
	return s.commit(ctx, by, dstBucket, dstKey, f.ID, etag, m)
}

// waitStored waits until file id has all its holders recorded.
func (n *Node) waitStored(ctx context.Context, id string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	replicas := n.replicas()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		f, ok := n.ledgerFile(id)
		if ok && len(f.Holders) >= replicas {
			return nil
		}
		if ok && f.Ended() {
			return fmt.Errorf("%w: file %s is %s", ErrGone, id, f.State)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: file %s is paid and not stored on its %d holders yet (%v)", ErrUnavailable, id, replicas, ctx.Err())
		case <-t.C:
		}
	}
}

func (n *Node) s3Term() int64 {
	if n.cfg.S3Term > 0 {
		return n.cfg.S3Term
	}
	return DefaultDuration
}

func (n *Node) s3StoreTimeout() time.Duration {
	if n.cfg.S3StoreTimeout > 0 {
		return n.cfg.S3StoreTimeout
	}
	return 10 * time.Minute
}

// kickExpire wakes the expiry loop when res ended a lease (a key put
// again or deleted): the copy goes. Only then: the loop's reconcile walks
// every pin of the store, so a kick at every PutObject would make each put
// cost a pass over all the node's files (BenchmarkS3ListObjects' fill
// shows it).
func (n *Node) kickExpire(res billing.Result) {
	if len(res.Expired) > 0 {
		kick(n.expireKick)
	}
}
