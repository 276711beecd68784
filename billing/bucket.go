package billing

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/btree"
)

// Buckets and objects (spec/api.md, "S3-compatible gateway"). A bucket
// belongs to an account and its name is the network's: any gateway sees
// the same buckets and keys. An object is a key naming one of the
// account's files (a dds file paid like any other); putting a key again
// ends the lease of the file it named, as does deleting it. A file whose
// lease ends any other way (its term, a DELETE /files/{id}) leaves its
// bucket with it.
//
// Every change needs the owning account's consent (see account.go). What
// makes each one single-use: a bucket name's generation (it moves on at
// every delete of the name, so an old consent to make or delete it is
// refused), and an object's file (a new upload; a file whose key was put
// again or deleted has ended, so an old consent to put it is refused, and
// one to delete it matches nothing).

// Limits on buckets and objects, as S3's.
const (
	MinBucketName = 3
	MaxBucketName = 63
	MaxObjectKey  = 1024
	// MaxObjectHeaders bounds an object's stored headers (Content-Type and
	// the like), encoded.
	MaxObjectHeaders = 8 << 10
	// MaxDeleteObjects is the most keys one DeleteObjects names (S3's).
	MaxDeleteObjects = 1000
)

// Bucket is a bucket as the ledger keeps it.
type Bucket struct {
	Name    string    `json:"name"`
	Account string    `json:"account"`
	Created time.Time `json:"created"`
}

// Object is a key of a bucket and the file it names.
type Object struct {
	Key      string            `json:"key"`
	FileID   string            `json:"file_id"`
	ETag     string            `json:"etag"`
	Size     int64             `json:"size"`
	Modified time.Time         `json:"modified"`
	Headers  map[string]string `json:"headers,omitempty"` // Content-Type and the like, as the client sent them
}

// MakeBucket creates a bucket for the consenting account.
type MakeBucket struct {
	Name string      `json:"name"`
	Auth AccountAuth `json:"auth"`
}

// DropBucket deletes an empty bucket of the consenting account.
type DropBucket struct {
	Name string      `json:"name"`
	Auth AccountAuth `json:"auth"`
}

// PutObject makes Key of Bucket name the account's file FileID (a paid,
// live lease), ending the lease of the file the key named before.
type PutObject struct {
	Bucket  string            `json:"bucket"`
	Key     string            `json:"key"`
	FileID  string            `json:"file_id"`
	ETag    string            `json:"etag"`
	Headers map[string]string `json:"headers,omitempty"`
	Auth    AccountAuth       `json:"auth"`
}

// ObjectRef names an object and the file it must name for a delete to
// apply to it.
type ObjectRef struct {
	Key    string `json:"key"`
	FileID string `json:"file_id"`
}

// DeleteObjects removes keys of a bucket, each only while it still names
// the file given (a key put again since is left alone), ending their files'
// leases.
type DeleteObjects struct {
	Bucket  string      `json:"bucket"`
	Objects []ObjectRef `json:"objects"`
	Auth    AccountAuth `json:"auth"`
}

// MakeBucketMessage is what an account signs to make bucket name, at the
// name's generation gen (State.BucketGen).
func MakeBucketMessage(account, name string, gen int64) []byte {
	return consentMsg("make-bucket", account).str(name).i64(gen)
}

// DropBucketMessage is what an account signs to delete bucket name at
// generation gen.
func DropBucketMessage(account, name string, gen int64) []byte {
	return consentMsg("drop-bucket", account).str(name).i64(gen)
}

// PutObjectMessage is what an account signs to put its file under a key.
func PutObjectMessage(account, bucket, key, fileID, etag string, headers map[string]string) []byte {
	b, _ := json.Marshal(headers) // sorted keys
	d := sha256.Sum256(b)
	return consentMsg("put-object", account).str(bucket).str(key).str(fileID).str(etag).str(string(d[:]))
}

// DeleteObjectsMessage is what an account signs to delete objects.
func DeleteObjectsMessage(account, bucket string, objects []ObjectRef) []byte {
	b, _ := json.Marshal(objects)
	d := sha256.Sum256(b)
	return consentMsg("delete-objects", account).str(bucket).str(string(d[:]))
}

// bucketRec is a bucket with its keys.
type bucketRec struct {
	Bucket
	keys *btree.BTreeG[*objectRec]
}

// objectRec is an object in its bucket.
type objectRec struct {
	Object
	bucket *bucketRec
}

func keyLess(a, b *objectRec) bool { return a.Key < b.Key }

func newBucketRec(b Bucket) *bucketRec {
	return &bucketRec{Bucket: b, keys: btree.NewG(32, keyLess)}
}

// ValidBucketName reports whether name is a bucket name the ledger takes:
// 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending
// with a letter or digit (the S3 gateway checks S3's finer rules).
func ValidBucketName(name string) bool {
	if len(name) < MinBucketName || len(name) > MaxBucketName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && ((c != '.' && c != '-') || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}

func validKey(key string) bool {
	return key != "" && len(key) <= MaxObjectKey && utf8.ValidString(key)
}

// bucketOf returns a bucket of account, or the refusal.
func (s *State) bucketOf(name, account string) (*bucketRec, *Error) {
	b, ok := s.buckets[name]
	if !ok {
		return nil, refusal(ErrNotFound, "bucket %s not found", name)
	}
	if b.Account != account {
		return nil, refusal(ErrForbidden, "bucket %s belongs to another account", name)
	}
	return b, nil
}

func (s *State) applyMakeBucket(now time.Time, c *MakeBucket) Result {
	if !ValidBucketName(c.Name) {
		return fail(refusal(ErrInvalid, "%q is not a bucket name", c.Name))
	}
	if _, e := s.checkConsent(&c.Auth, MakeBucketMessage(c.Auth.Account, c.Name, s.bucketGens[c.Name])); e != nil {
		return fail(e)
	}
	if b, ok := s.buckets[c.Name]; ok {
		if b.Account == c.Auth.Account {
			return fail(refusal(ErrConflict, "bucket %s is already yours", c.Name))
		}
		return fail(refusal(ErrConflict, "bucket %s belongs to another account", c.Name))
	}
	s.buckets[c.Name] = newBucketRec(Bucket{Name: c.Name, Account: c.Auth.Account, Created: now})
	return Result{}
}

func (s *State) applyDropBucket(c *DropBucket) Result {
	b, e := s.bucketOf(c.Name, c.Auth.Account)
	if e != nil {
		return fail(e)
	}
	if _, e := s.checkConsent(&c.Auth, DropBucketMessage(c.Auth.Account, c.Name, s.bucketGens[c.Name])); e != nil {
		return fail(e)
	}
	if b.keys.Len() > 0 {
		return fail(refusal(ErrConflict, "bucket %s is not empty", c.Name))
	}
	delete(s.buckets, c.Name)
	s.bucketGens[c.Name]++
	return Result{}
}

func (s *State) applyPutObject(now time.Time, c *PutObject) Result {
	b, e := s.bucketOf(c.Bucket, c.Auth.Account)
	if e != nil {
		return fail(e)
	}
	switch {
	case !validKey(c.Key):
		return fail(refusal(ErrInvalid, "an object key is 1 to %d bytes of UTF-8", MaxObjectKey))
	case len(c.ETag) > 64:
		return fail(refusal(ErrInvalid, "an etag is at most 64 bytes"))
	}
	if enc, _ := json.Marshal(c.Headers); len(enc) > MaxObjectHeaders {
		return fail(refusal(ErrInvalid, "object headers are at most %d bytes encoded", MaxObjectHeaders))
	}
	if _, e := s.checkConsent(&c.Auth, PutObjectMessage(c.Auth.Account, c.Bucket, c.Key, c.FileID, c.ETag, c.Headers)); e != nil {
		return fail(e)
	}
	rec, e := s.leased(c.FileID)
	if e != nil {
		return fail(e)
	}
	f := &rec.File
	switch {
	case f.Owner != c.Auth.Account:
		return fail(refusal(ErrForbidden, "file %s is not the account's", f.ID))
	case !now.Before(f.ExpiresAt):
		return fail(refusal(ErrGone, "the term of file %s ended", f.ID))
	case s.objects[f.ID] != nil:
		return fail(refusal(ErrConflict, "file %s is an object already", f.ID))
	}
	var res Result
	if old, ok := b.keys.Get(&objectRec{Object: Object{Key: c.Key}}); ok {
		res.Expired = s.endObject(now, old)
	}
	o := &objectRec{Object: Object{Key: c.Key, FileID: f.ID, ETag: c.ETag, Size: f.Size, Modified: now, Headers: maps.Clone(c.Headers)}, bucket: b}
	b.keys.ReplaceOrInsert(o)
	s.objects[f.ID] = o
	out := o.clone()
	res.Object = &out
	return res
}

// endObject removes an object from its bucket and ends its file's lease
// (as a delete by its owner: the unused whole days go back to the balance
// that paid them). It returns the ids of the files whose lease ended.
func (s *State) endObject(now time.Time, o *objectRec) []string {
	s.unmapObject(o)
	rec, ok := s.record(o.FileID)
	if !ok {
		return nil
	}
	if !s.endLease(now, rec) {
		return nil
	}
	return []string{o.FileID}
}

// unmapObject removes an object from its bucket and the file index.
func (s *State) unmapObject(o *objectRec) {
	o.bucket.keys.Delete(o)
	delete(s.objects, o.FileID)
}

// unmapFile removes the object that names file id, if any: its lease
// ended some other way.
func (s *State) unmapFile(id string) {
	if o := s.objects[id]; o != nil {
		s.unmapObject(o)
	}
}

func (s *State) applyDeleteObjects(now time.Time, c *DeleteObjects) Result {
	b, e := s.bucketOf(c.Bucket, c.Auth.Account)
	if e != nil {
		return fail(e)
	}
	if len(c.Objects) == 0 || len(c.Objects) > MaxDeleteObjects {
		return fail(refusal(ErrInvalid, "a delete names 1 to %d objects", MaxDeleteObjects))
	}
	if _, e := s.checkConsent(&c.Auth, DeleteObjectsMessage(c.Auth.Account, c.Bucket, c.Objects)); e != nil {
		return fail(e)
	}
	var res Result
	for _, ref := range c.Objects {
		o, ok := b.keys.Get(&objectRec{Object: Object{Key: ref.Key}})
		if ok && o.FileID == ref.FileID {
			res.Expired = append(res.Expired, s.endObject(now, o)...)
		}
	}
	return res
}

// BucketGen returns the generation of a bucket name: what a consent to
// make or delete it names.
func (s *State) BucketGen(name string) int64 { return s.bucketGens[name] }

// Bucket returns a bucket.
func (s *State) Bucket(name string) (Bucket, bool) {
	b, ok := s.buckets[name]
	if !ok {
		return Bucket{}, false
	}
	return b.Bucket, true
}

// BucketLen returns the number of keys in a bucket.
func (s *State) BucketLen(name string) int {
	if b, ok := s.buckets[name]; ok {
		return b.keys.Len()
	}
	return 0
}

// Buckets returns an account's buckets by name.
func (s *State) Buckets(account string) []Bucket {
	var out []Bucket
	for _, b := range s.buckets {
		if b.Account == account {
			out = append(out, b.Bucket)
		}
	}
	slices.SortFunc(out, func(a, b Bucket) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ObjectAt returns the object at key of bucket and its file.
func (s *State) ObjectAt(bucket, key string) (Object, File, bool) {
	b, ok := s.buckets[bucket]
	if !ok {
		return Object{}, File{}, false
	}
	o, ok := b.keys.Get(&objectRec{Object: Object{Key: key}})
	if !ok {
		return Object{}, File{}, false
	}
	rec, ok := s.record(o.FileID)
	if !ok {
		return Object{}, File{}, false
	}
	return o.clone(), rec.File.clone(), true
}

func (o *objectRec) clone() Object {
	out := o.Object
	out.Headers = maps.Clone(o.Headers)
	return out
}

// ObjectList is one page of a bucket's keys.
type ObjectList struct {
	Objects        []Object
	CommonPrefixes []string
	Truncated      bool
	Next           string // the last key or common prefix of the page
}

// ListObjects returns up to max keys and common prefixes of bucket that
// start with prefix, in byte order after after. With a delimiter, the keys
// that hold it after prefix fold into their common prefix (up to and
// including the delimiter), counted once; the walk seeks past a folded
// prefix instead of visiting its keys. An after that is itself a common
// prefix skips every key under it.
func (s *State) ListObjects(bucket, prefix, delimiter, after string, max int) ObjectList {
	var out ObjectList
	b, ok := s.buckets[bucket]
	if !ok || max <= 0 {
		return out
	}
	from := prefix
	if after > from {
		from = after
		if delimiter != "" && strings.HasPrefix(after, prefix) && strings.HasSuffix(after, delimiter) &&
			strings.Contains(after[len(prefix):], delimiter) {
			from = prefixEnd(after) // past every key under the folded prefix
		}
	}
	for {
		var next string
		seek := false
		b.keys.AscendGreaterOrEqual(&objectRec{Object: Object{Key: from}}, func(o *objectRec) bool {
			k := o.Key
			if k <= after {
				return true
			}
			if !strings.HasPrefix(k, prefix) {
				return false
			}
			if len(out.Objects)+len(out.CommonPrefixes) == max {
				out.Truncated = true
				return false
			}
			if delimiter != "" {
				if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
					cp := k[:len(prefix)+i+len(delimiter)]
					out.CommonPrefixes = append(out.CommonPrefixes, cp)
					out.Next = cp
					next, seek = prefixEnd(cp), true
					return false
				}
			}
			out.Objects = append(out.Objects, o.clone())
			out.Next = k
			return true
		})
		if !seek || next == "" {
			break
		}
		from = next
	}
	if !out.Truncated {
		out.Next = ""
	}
	return out
}

// prefixEnd is the least string above every string that starts with p,
// "" when there is none (p is all 0xff bytes).
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

// bucketSnap is a bucket in a snapshot, with its objects by key.
type bucketSnap struct {
	Bucket
	Objects []Object `json:"objects,omitempty"`
}

func (s *State) snapBuckets() []bucketSnap {
	out := make([]bucketSnap, 0, len(s.buckets))
	for _, b := range s.buckets {
		bs := bucketSnap{Bucket: b.Bucket}
		b.keys.Ascend(func(o *objectRec) bool {
			bs.Objects = append(bs.Objects, o.Object)
			return true
		})
		out = append(out, bs)
	}
	slices.SortFunc(out, func(a, b bucketSnap) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// restoreBuckets rebuilds the buckets of a snapshot, after its files and
// accounts.
func (s *State) restoreBuckets(snaps []bucketSnap, gens map[string]int64) error {
	for _, bs := range snaps {
		if !ValidBucketName(bs.Name) {
			return fmt.Errorf("bad bucket name %q", bs.Name)
		}
		if _, dup := s.buckets[bs.Name]; dup {
			return fmt.Errorf("duplicate bucket %q", bs.Name)
		}
		if _, ok := s.accounts[bs.Account]; !ok {
			return fmt.Errorf("bucket %q: account %q unknown", bs.Name, bs.Account)
		}
		bs.Created = bs.Created.UTC()
		b := newBucketRec(bs.Bucket)
		for i, o := range bs.Objects {
			if !validKey(o.Key) || i > 0 && bs.Objects[i-1].Key >= o.Key {
				return fmt.Errorf("bucket %q: bad or unordered key %q", bs.Name, o.Key)
			}
			rec, ok := s.byID[o.FileID]
			if !ok || rec.File.Owner != bs.Account || rec.File.Ended() || s.objects[o.FileID] != nil {
				return fmt.Errorf("bucket %q key %q: file %q is not a live file of its account, or named twice", bs.Name, o.Key, o.FileID)
			}
			o.Modified = o.Modified.UTC()
			or := &objectRec{Object: o, bucket: b}
			b.keys.ReplaceOrInsert(or)
			s.objects[o.FileID] = or
		}
		s.buckets[bs.Name] = b
	}
	for name, g := range gens {
		if g <= 0 {
			return fmt.Errorf("bucket name %q: generation %d", name, g)
		}
		s.bucketGens[name] = g
	}
	return nil
}
