package billing

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func makeBucketCmd(s *State, account, key, name string) Command {
	return Command{MakeBucket: &MakeBucket{Name: name, Auth: *Consent(account, key, MakeBucketMessage(account, name, s.BucketGen(name)))}}
}

func dropBucketCmd(s *State, account, key, name string) Command {
	return Command{DropBucket: &DropBucket{Name: name, Auth: *Consent(account, key, DropBucketMessage(account, name, s.BucketGen(name)))}}
}

func putObjectCmd(account, key, bucket, objKey, fileID string) Command {
	h := map[string]string{"content-type": "text/plain"}
	return Command{PutObject: &PutObject{Bucket: bucket, Key: objKey, FileID: fileID, ETag: "e-" + fileID, Headers: h,
		Auth: *Consent(account, key, PutObjectMessage(account, bucket, objKey, fileID, "e-"+fileID, h))}}
}

func deleteObjectsCmd(account, key, bucket string, refs ...ObjectRef) Command {
	return Command{DeleteObjects: &DeleteObjects{Bucket: bucket, Objects: refs, Auth: *Consent(account, key, DeleteObjectsMessage(account, bucket, refs))}}
}

// paidOwned uploads id owned by account and pays it from its balance.
func (f *fixture) paidOwned(id, account, key string, size int64) Quote {
	f.t.Helper()
	c, q := f.ownedQuote(id, account, key, false, size, 30*86400)
	f.must(c)
	f.must(balancePay(id, "p-"+id, account, key, q.Price))
	return q
}

func TestBuckets(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 0)
	bob := f.testAccount("bob", 0)
	f.must(makeBucketCmd(f.s, "alice", alice, "photos"))
	f.refused(makeBucketCmd(f.s, "alice", alice, "photos"), ErrConflict)
	f.refused(makeBucketCmd(f.s, "bob", bob, "photos"), ErrConflict)
	f.refused(makeBucketCmd(f.s, "alice", bob, "other"), ErrForbidden)
	for _, bad := range []string{"ab", "Photos", "-x-", strings.Repeat("a", 64), "a_b"} {
		f.refused(makeBucketCmd(f.s, "alice", alice, bad), ErrInvalid)
	}
	f.must(makeBucketCmd(f.s, "bob", bob, "bobs"))
	if bs := f.s.Buckets("alice"); len(bs) != 1 || bs[0].Name != "photos" {
		t.Fatalf("alice's buckets: %v", bs)
	}
	f.refused(dropBucketCmd(f.s, "bob", bob, "photos"), ErrForbidden)
	made := makeBucketCmd(f.s, "alice", alice, "photos") // a consent at generation 0
	f.must(dropBucketCmd(f.s, "alice", alice, "photos"))
	if _, ok := f.s.Bucket("photos"); ok {
		t.Fatal("dropped bucket still there")
	}
	f.refused(made, ErrForbidden) // replayed: the name's generation moved on
	f.must(makeBucketCmd(f.s, "bob", bob, "photos"))
	f.refused(dropBucketCmd(f.s, "bob", bob, "nothere"), ErrNotFound)
}

func TestObjects(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 1<<50)
	bob := f.testAccount("bob", 1<<50)
	f.must(makeBucketCmd(f.s, "alice", alice, "docs"))
	f.paidOwned("v1", "alice", alice, 100)
	f.paidOwned("v2", "alice", alice, 200)
	f.paidOwned("b1", "bob", bob, 100)
	f.upload("unpaid", 100, 86400)

	f.refused(putObjectCmd("alice", alice, "docs", "k", "b1"), ErrForbidden)    // bob's file
	f.refused(putObjectCmd("bob", bob, "docs", "k", "b1"), ErrForbidden)        // alice's bucket
	f.refused(putObjectCmd("alice", bob, "docs", "k", "v1"), ErrForbidden)      // bob's key
	f.refused(putObjectCmd("alice", alice, "docs", "k", "unpaid"), ErrConflict) // not paid
	f.refused(putObjectCmd("alice", alice, "nope", "k", "v1"), ErrNotFound)     // no bucket
	f.refused(putObjectCmd("alice", alice, "docs", strings.Repeat("k", 1025), "v1"), ErrInvalid)
	first := putObjectCmd("alice", alice, "docs", "k", "v1")
	f.must(first)
	f.refused(putObjectCmd("alice", alice, "docs", "k2", "v1"), ErrConflict) // a file names one object
	o, file, ok := f.s.ObjectAt("docs", "k")
	if !ok || o.FileID != "v1" || file.ID != "v1" || o.Headers["content-type"] != "text/plain" || o.Size != 100 {
		t.Fatalf("object: %+v %v", o, ok)
	}
	// Putting the key again ends the first file's lease, with a refund.
	before := f.balance("alice")
	f.advance(time.Hour)
	res := f.must(putObjectCmd("alice", alice, "docs", "k", "v2"))
	if len(res.Expired) != 1 || res.Expired[0] != "v1" || f.file("v1").State != StateDeleted || f.balance("alice") <= before {
		t.Fatalf("overwrite: %+v, v1 %s, balance %d -> %d", res, f.file("v1").State, before, f.balance("alice"))
	}
	f.refused(first, ErrGone) // the first consent, replayed
	// A delete applies to the file it names only.
	f.must(deleteObjectsCmd("alice", alice, "docs", ObjectRef{Key: "k", FileID: "v1"}))
	if o, _, _ := f.s.ObjectAt("docs", "k"); o.FileID != "v2" {
		t.Fatal("a delete of an old version removed the new one")
	}
	f.refused(dropBucketCmd(f.s, "alice", alice, "docs"), ErrConflict) // not empty
	res = f.must(deleteObjectsCmd("alice", alice, "docs", ObjectRef{Key: "k", FileID: "v2"}, ObjectRef{Key: "absent", FileID: "x"}))
	if len(res.Expired) != 1 || f.s.BucketLen("docs") != 0 {
		t.Fatalf("delete: %+v, %d keys left", res, f.s.BucketLen("docs"))
	}
	f.must(dropBucketCmd(f.s, "alice", alice, "docs"))
}

// A file whose lease ends (its term, a DELETE /files/{id}) leaves its bucket.
func TestObjectLeavesWithItsLease(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 1<<50)
	f.must(makeBucketCmd(f.s, "alice", alice, "docs"))
	f.paidOwned("a", "alice", alice, 100)
	c, q := f.ownedQuote("b", "alice", alice, false, 100, 86400)
	f.must(c)
	f.must(balancePay("b", "p-b", "alice", alice, q.Price))
	f.must(putObjectCmd("alice", alice, "docs", "a", "a"))
	f.must(putObjectCmd("alice", alice, "docs", "b", "b"))
	f.must(Command{Delete: &Delete{FileID: "a", Auth: *Consent("alice", alice, DeleteMessage("alice", "a"))}})
	f.advance(86400*time.Second + time.Second)
	f.must(Command{Expire: &Expire{}})
	if n := f.s.BucketLen("docs"); n != 0 {
		t.Fatalf("%d keys left after their leases ended", n)
	}
	if r := restoredState(t, f.s); r.Hash() != f.s.Hash() {
		t.Fatal("restored state differs")
	}
}

func TestListObjects(t *testing.T) {
	f := newFixture(t, DefaultSettings())
	alice := f.testAccount("alice", 1<<50)
	f.must(makeBucketCmd(f.s, "alice", alice, "b-1"))
	keys := []string{"a.txt", "dir/x", "dir/y", "dir/sub/z", "e.txt", "photos/2026/1.jpg", "photos/2026/2.jpg", "photos/2027/1.jpg", "z"}
	for i, k := range keys {
		id := fmt.Sprintf("f%d", i)
		f.paidOwned(id, "alice", alice, 10)
		f.must(putObjectCmd("alice", alice, "b-1", k, id))
	}
	page := func(prefix, delim, after string, max int) (got []string, trunc bool, next string) {
		l := f.s.ListObjects("b-1", prefix, delim, after, max)
		for _, o := range l.Objects {
			got = append(got, o.Key)
		}
		for _, p := range l.CommonPrefixes {
			got = append(got, p+"/")
		}
		slices.Sort(got)
		return got, l.Truncated, l.Next
	}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	all, trunc, _ := page("", "", "", 100)
	sorted := slices.Sorted(slices.Values(keys))
	check("all", all, sorted...)
	if trunc {
		t.Error("a whole listing is truncated")
	}
	got, _, _ := page("", "/", "", 100)
	check("top level", got, "a.txt", "dir//", "e.txt", "photos//", "z")
	got, _, _ = page("photos/", "/", "", 100)
	check("photos", got, "photos/2026//", "photos/2027//")
	got, _, _ = page("dir/", "", "", 100)
	check("dir, no delimiter", got, "dir/sub/z", "dir/x", "dir/y")
	// Pages: a common prefix counts once and its keys are skipped.
	got, trunc, next := page("", "/", "", 2)
	check("page 1", got, "a.txt", "dir//")
	if !trunc || next != "dir/" {
		t.Fatalf("page 1: truncated %v next %q", trunc, next)
	}
	got, trunc, next = page("", "/", next, 2)
	check("page 2", got, "e.txt", "photos//")
	got, trunc, _ = page("", "/", next, 2)
	check("page 3", got, "z")
	if trunc {
		t.Error("the last page is truncated")
	}
	got, _, _ = page("", "", "e.txt", 100)
	check("after", got, "photos/2026/1.jpg", "photos/2026/2.jpg", "photos/2027/1.jpg", "z")
	got, _, _ = page("nothing", "", "", 100)
	check("no such prefix", got)
}

// BenchmarkListObjects lists a bucket of 100,000 keys in pages of 1,000
// (the bound: under 50 ms a page, with the HTTP around it).
func BenchmarkListObjects(b *testing.B) {
	f := newFixture(b, DefaultSettings())
	alice := f.testAccount("alice", 1<<60)
	f.must(makeBucketCmd(f.s, "alice", alice, "big"))
	const n = 100_000
	for i := range n {
		id := fmt.Sprintf("f%06d", i)
		c, q := f.ownedQuote(id, "alice", alice, false, 10, 86400)
		f.s.Apply(signed(withTime(c, f.now)))
		f.s.Apply(signed(withTime(balancePay(id, "p"+id, "alice", alice, q.Price), f.now)))
		if r := f.s.Apply(signed(withTime(putObjectCmd("alice", alice, "big", fmt.Sprintf("dir%02d/key%06d", i%50, i), id), f.now))); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.ResetTimer()
	pages := 0
	for range b.N {
		after := ""
		for {
			l := f.s.ListObjects("big", "", "", after, 1000)
			pages++
			if !l.Truncated {
				break
			}
			after = l.Next
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(pages), "µs/page")
}

func withTime(c Command, t time.Time) Command {
	c.Time = t
	return c
}
