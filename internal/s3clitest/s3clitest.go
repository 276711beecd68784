// Package s3clitest drives the S3 command-line clients people use,
// aws-cli and rclone, through S3 gateways, as a user would, and checks
// what they did: the one scenario of each that both the protocol layer's
// tests (node/s3, one gateway) and the process testnet's (testnet, a
// gateway per node) run. For tests only.
package s3clitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Gateway is an S3 endpoint and the access key to use there.
type Gateway struct {
	URL, AccessKeyID, SecretAccessKey string
}

// Runner runs client programs as a user would, in a home of their own,
// each with a time bound.
type Runner struct {
	t   *testing.T
	ctx context.Context
	Dir string   // the user's home and working directory
	Env []string // every program's environment
}

// NewRunner makes a runner with a new home and env on top of HOME and PATH.
func NewRunner(t *testing.T, ctx context.Context, env ...string) *Runner {
	home := t.TempDir()
	return &Runner{t: t, ctx: ctx, Dir: home, Env: append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, env...)}
}

// Run runs name with args (env on top of the runner's) and returns its
// standard output; a failure fails the test with both outputs.
func (c *Runner) Run(env []string, name string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(slices.Clone(c.Env), env...)
	cmd.Dir = c.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// WriteFile writes data to path, making its directories.
func WriteFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// SameFile fails the test unless path holds want.
func SameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", path, len(got), len(want))
	}
}

// AWSBinaries are the distinct aws-cli programs here: PATH's and Debian's
// /usr/bin/aws (awscli 2.9 in bookworm): botocore's defaults (checksum
// trailers, aws-chunked) changed between versions.
func AWSBinaries() []string {
	var bins []string
	if p, err := exec.LookPath("aws"); err == nil {
		bins = append(bins, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil && !slices.Contains(bins, "/usr/bin/aws") {
		bins = append(bins, "/usr/bin/aws")
	}
	return bins
}

// AWS drives aws-cli (bin) as a user would, through the gateways in turn
// (the i-th command's "at node i" is gws[i%len(gws)]): the high-level s3
// commands (which upload above 8 MiB in parts and download in ranges:
// mb, cp, ls, sync, sync --delete, rm, rb) and s3api calls (create-bucket,
// put-object with metadata, head-object, ranged get-object,
// list-objects-v2, a multipart upload, delete-objects); bucket and
// bucket+"-api" are the buckets it makes. What one gateway stored, the
// others must list and serve.
func AWS(t *testing.T, ctx context.Context, bin, bucket string, gws []Gateway) {
	c := NewRunner(t, ctx, "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=")
	c.Env = append(c.Env, "AWS_CONFIG_FILE="+filepath.Join(c.Dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.Dir, "credentials"))
	// pyenv's shim finds its Python from PYENV_ROOT, which defaults to
	// $HOME/.pyenv: keep the user's.
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		c.Env = append(c.Env, "PYENV_ROOT="+root)
	} else if home, err := os.UserHomeDir(); err == nil {
		c.Env = append(c.Env, "PYENV_ROOT="+filepath.Join(home, ".pyenv"))
	}
	aws := func(i int, args ...string) string {
		t.Helper()
		g := gws[i%len(gws)]
		return c.Run([]string{"AWS_ACCESS_KEY_ID=" + g.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + g.SecretAccessKey},
			bin, append([]string{"--endpoint-url", g.URL}, args...)...)
	}
	home := c.Dir
	small := []byte("hello from aws-cli\n")
	big := Pattern(20<<20, 11) // above aws-cli's 8 MiB threshold: parts
	WriteFile(t, filepath.Join(home, "up/small.txt"), small)
	WriteFile(t, filepath.Join(home, "up/dir/big.bin"), big)
	WriteFile(t, filepath.Join(home, "up/dir/sub/x y.txt"), []byte("spaces"))
	s3 := "s3://" + bucket

	aws(0, "s3", "mb", s3)
	if ls := aws(3, "s3", "ls"); !strings.Contains(ls, bucket) {
		t.Fatalf("aws s3 ls at node3 does not list the bucket made at node0:\n%s", ls)
	}
	aws(0, "s3", "cp", "up/small.txt", s3+"/small.txt")
	aws(1, "s3", "cp", "up/dir/big.bin", s3+"/dir/big.bin")
	ls := aws(2, "s3", "ls", s3+"/")
	if !strings.Contains(ls, "PRE dir/") || !strings.Contains(ls, fmt.Sprintf("%d small.txt", len(small))) {
		t.Fatalf("aws s3 ls at node2:\n%s", ls)
	}
	aws(3, "s3", "cp", s3+"/dir/big.bin", "down/big.bin")
	SameFile(t, filepath.Join(home, "down/big.bin"), big)
	aws(2, "s3", "cp", s3+"/small.txt", "down/small.txt")
	SameFile(t, filepath.Join(home, "down/small.txt"), small)
	if head := aws(2, "s3api", "head-object", "--bucket", bucket, "--key", "dir/big.bin"); !strings.Contains(head, `-3\"`) || !strings.Contains(head, fmt.Sprint(len(big))) {
		t.Fatalf("the multipart object (20 MiB in 8 MiB parts) at node2:\n%s", head)
	}

	// sync up through node0, list through node1, nothing to do through
	// node2, down through node3; then a sync --delete removes what went.
	aws(0, "s3", "sync", "up", s3+"/sync/")
	rec := aws(1, "s3", "ls", "--recursive", s3+"/sync/")
	for _, k := range []string{"sync/small.txt", "sync/dir/big.bin", "sync/dir/sub/x y.txt"} {
		if !strings.Contains(rec, k) {
			t.Fatalf("after sync, %s missing at node1:\n%s", k, rec)
		}
	}
	if again := aws(2, "s3", "sync", "up", s3+"/sync/"); strings.Contains(again, "upload:") {
		t.Fatalf("a second sync, at node2, uploaded again:\n%s", again)
	}
	aws(3, "s3", "sync", s3+"/sync/", "back")
	SameFile(t, filepath.Join(home, "back/small.txt"), small)
	SameFile(t, filepath.Join(home, "back/dir/big.bin"), big)
	SameFile(t, filepath.Join(home, "back/dir/sub/x y.txt"), []byte("spaces"))
	if err := os.Remove(filepath.Join(home, "up/small.txt")); err != nil {
		t.Fatal(err)
	}
	if out := aws(1, "s3", "sync", "--delete", "up", s3+"/sync/"); !strings.Contains(out, "delete: "+s3+"/sync/small.txt") {
		t.Fatalf("sync --delete:\n%s", out)
	}
	if rec := aws(3, "s3", "ls", "--recursive", s3+"/sync/"); strings.Contains(rec, "small.txt") || !strings.Contains(rec, "sync/dir/big.bin") {
		t.Fatalf("after sync --delete, at node3:\n%s", rec)
	}
	aws(2, "s3", "rm", s3+"/small.txt")
	aws(0, "s3", "rm", "--recursive", s3+"/sync/")
	if rest := aws(1, "s3", "ls", "--recursive", s3+"/"); strings.Contains(rest, "sync/") || strings.Contains(rest, "small.txt") || !strings.Contains(rest, "dir/big.bin") {
		t.Fatalf("after rm, at node1:\n%s", rest)
	}

	// s3api.
	api2 := bucket + "-api"
	aws(1, "s3api", "create-bucket", "--bucket", api2)
	WriteFile(t, filepath.Join(home, "obj.txt"), small)
	aws(1, "s3api", "put-object", "--bucket", api2, "--key", "api/obj", "--body", "obj.txt", "--metadata", "color=green", "--content-type", "text/plain")
	var h struct {
		ETag, ContentType string
		ContentLength     int64
		Metadata          map[string]string
	}
	if err := json.Unmarshal([]byte(aws(3, "s3api", "head-object", "--bucket", api2, "--key", "api/obj")), &h); err != nil {
		t.Fatal(err)
	}
	if h.ETag != `"`+MD5Hex(small)+`"` || h.Metadata["color"] != "green" || h.ContentType != "text/plain" || h.ContentLength != int64(len(small)) {
		t.Fatalf("head-object at node3: %+v", h)
	}
	aws(0, "s3api", "get-object", "--bucket", api2, "--key", "api/obj", "--range", "bytes=0-4", "part.txt")
	SameFile(t, filepath.Join(home, "part.txt"), small[:5])
	var cr struct{ UploadId string }
	if err := json.Unmarshal([]byte(aws(2, "s3api", "create-multipart-upload", "--bucket", api2, "--key", "api/multi")), &cr); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Join(home, "p1"), big[:5<<20])
	WriteFile(t, filepath.Join(home, "p2"), big[5<<20:6<<20])
	var parts []string
	for i, p := range []string{"p1", "p2"} {
		var up struct{ ETag string }
		if err := json.Unmarshal([]byte(aws(2, "s3api", "upload-part", "--bucket", api2, "--key", "api/multi",
			"--upload-id", cr.UploadId, "--part-number", fmt.Sprint(i+1), "--body", p)), &up); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, up.ETag))
	}
	aws(2, "s3api", "complete-multipart-upload", "--bucket", api2, "--key", "api/multi", "--upload-id", cr.UploadId,
		"--multipart-upload", `{"Parts":[`+strings.Join(parts, ",")+`]}`)
	var l struct {
		Contents []struct {
			Key  string
			Size int64
			ETag string
		}
	}
	if err := json.Unmarshal([]byte(aws(0, "s3api", "list-objects-v2", "--bucket", api2, "--prefix", "api/")), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 2 || l.Contents[0].Key != "api/multi" || l.Contents[0].Size != 6<<20 || l.Contents[0].ETag != `"`+MultipartETag(big[:5<<20], big[5<<20:6<<20])+`"` ||
		l.Contents[1].Key != "api/obj" {
		t.Fatalf("list-objects-v2 at node0: %+v", l)
	}
	aws(0, "s3api", "get-object", "--bucket", api2, "--key", "api/multi", "multi.bin")
	SameFile(t, filepath.Join(home, "multi.bin"), big[:6<<20])
	aws(3, "s3api", "delete-objects", "--bucket", api2, "--delete", `{"Objects":[{"Key":"api/obj"},{"Key":"api/multi"}]}`)
	if rest := aws(1, "s3", "ls", "--recursive", "s3://"+api2+"/"); strings.Contains(rest, "api/") {
		t.Fatalf("after delete-objects, at node1:\n%s", rest)
	}

	aws(3, "s3", "rb", "s3://"+api2)
	aws(1, "s3", "rb", "--force", s3)
	if out := aws(2, "s3", "ls"); strings.Contains(out, bucket) {
		t.Fatalf("buckets still listed at node2:\n%s", out)
	}
}

// Rclone drives rclone (bin) with an S3 remote nI for each gateway, from
// the environment, used in turn as AWS does: mkdir, copy (with multipart
// parts), check, lsjson, ls, sync (a changed file, a new one, a removed
// one), deletefile, a copy back, purge, lsd.
func Rclone(t *testing.T, ctx context.Context, bin string, gws []Gateway) {
	var env []string
	for i, g := range gws {
		p := fmt.Sprintf("RCLONE_CONFIG_N%d_", i)
		env = append(env, p+"TYPE=s3", p+"PROVIDER=Other", p+"ENDPOINT="+g.URL, p+"REGION=us-east-1",
			p+"ACCESS_KEY_ID="+g.AccessKeyID, p+"SECRET_ACCESS_KEY="+g.SecretAccessKey, p+"FORCE_PATH_STYLE=true")
	}
	c := NewRunner(t, ctx, env...)
	home := c.Dir
	c.Env = append(c.Env, "RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"))
	WriteFile(t, filepath.Join(home, "rclone.conf"), nil)
	rclone := func(args ...string) string {
		t.Helper()
		return c.Run(nil, bin, append(args, "--low-level-retries", "1", "--retries", "1",
			"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")...)
	}
	// n(i) is the remote at node i.
	n := func(i int) string { return fmt.Sprintf("n%d:", i%len(gws)) }
	files := map[string][]byte{
		"a.txt":        []byte("alpha\n"),
		"dir/b.bin":    Pattern(1<<20, 12),
		"dir/big.bin":  Pattern(12<<20, 13), // above the cutoff: multipart
		"dir/sub/c d":  []byte("gamma"),
		"empty":        {},
		"unicode/é.md": []byte("accent"),
	}
	for name, data := range files {
		WriteFile(t, filepath.Join(home, "src", name), data)
	}
	rclone("mkdir", n(0)+"rclone-bucket")
	rclone("copy", "src", n(1)+"rclone-bucket/copy")
	rclone("check", "src", n(2)+"rclone-bucket/copy")
	var entries []struct {
		Path  string
		Size  int64
		IsDir bool
	}
	if err := json.Unmarshal([]byte(rclone("lsjson", "-R", "--files-only", n(3)+"rclone-bucket/copy")), &entries); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Path)
		if int64(len(files[e.Path])) != e.Size {
			t.Fatalf("%s: size %d, want %d", e.Path, e.Size, len(files[e.Path]))
		}
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[a.txt dir/b.bin dir/big.bin dir/sub/c d empty unicode/é.md]" {
		t.Fatalf("lsjson at node3: %v", names)
	}
	if ls := rclone("ls", n(0)+"rclone-bucket/copy/dir"); !strings.Contains(ls, "12582912 big.bin") || !strings.Contains(ls, "1048576 b.bin") {
		t.Fatalf("rclone ls at node0:\n%s", ls)
	}

	// sync through node3: a changed file, a new one, a removed one.
	files["a.txt"] = []byte("alpha, changed\n")
	WriteFile(t, filepath.Join(home, "src/a.txt"), files["a.txt"])
	files["new.txt"] = []byte("new")
	WriteFile(t, filepath.Join(home, "src/new.txt"), files["new.txt"])
	if err := os.Remove(filepath.Join(home, "src/dir/b.bin")); err != nil {
		t.Fatal(err)
	}
	delete(files, "dir/b.bin")
	rclone("sync", "src", n(3)+"rclone-bucket/copy")
	rclone("check", "src", n(0)+"rclone-bucket/copy")
	if ls := rclone("ls", n(1)+"rclone-bucket/copy"); strings.Contains(ls, "b.bin") || !strings.Contains(ls, "new.txt") {
		t.Fatalf("after sync, at node1:\n%s", ls)
	}
	rclone("deletefile", n(1)+"rclone-bucket/copy/new.txt")
	delete(files, "new.txt")
	if ls := rclone("ls", n(2)+"rclone-bucket/copy"); strings.Contains(ls, "new.txt") {
		t.Fatalf("after deletefile, at node2:\n%s", ls)
	}
	rclone("copy", n(2)+"rclone-bucket/copy", "back")
	for name, data := range files {
		SameFile(t, filepath.Join(home, "back", name), data)
	}
	if _, err := os.Stat(filepath.Join(home, "back/new.txt")); err == nil {
		t.Fatal("new.txt came back after deletefile")
	}
	rclone("purge", n(3)+"rclone-bucket")
	if ls := rclone("lsd", n(0)); strings.Contains(ls, "rclone-bucket") {
		t.Fatalf("the bucket after purge, at node0:\n%s", ls)
	}
}

// MD5Hex is the hex MD5 of b: a single-part object's ETag.
func MD5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// MultipartETag is S3's ETag of a multipart object of these parts.
func MultipartETag(parts ...[]byte) string {
	var sums []byte
	for _, p := range parts {
		s := md5.Sum(p)
		sums = append(sums, s[:]...)
	}
	return fmt.Sprintf("%s-%d", MD5Hex(sums), len(parts))
}

// Pattern is n bytes that do not repeat within a chunk, by seed.
func Pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
