package testnet

import (
	"bytes"
	"context"
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

// userCLI runs a client program as a user would, in its own home, with a
// time bound.
type userCLI struct {
	t   *testing.T
	ctx context.Context
	dir string
	env []string
}

func (c userCLI) run(env []string, name string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(slices.Clone(c.env), env...)
	cmd.Dir = c.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func newUserCLI(t *testing.T, ctx context.Context, env ...string) userCLI {
	home := t.TempDir()
	return userCLI{t: t, ctx: ctx, dir: home, env: append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, env...)}
}

func writeFileAll(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameFileBytes(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", path, len(got), len(want))
	}
}

// awsBinaries are the distinct aws-cli programs here: PATH's and Debian's
// /usr/bin/aws (botocore's defaults differ between versions).
func awsBinaries() []string {
	var bins []string
	if p, err := exec.LookPath("aws"); err == nil {
		bins = append(bins, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil && !slices.Contains(bins, "/usr/bin/aws") {
		bins = append(bins, "/usr/bin/aws")
	}
	return bins
}

// aws-cli and rclone against a testnet of 4 dds processes, as a user
// would use them, each command through some node's gateway with that
// node's key: what one gateway stored, the others list and serve.
func TestS3CLIsOnProcessTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs aws-cli and rclone against a process testnet: not in -short")
	}
	awsBins := awsBinaries()
	rclone, rcloneErr := exec.LookPath("rclone")
	if len(awsBins) == 0 && rcloneErr != nil {
		t.Skip("neither aws-cli nor rclone is installed (apt-get install -y awscli rclone)")
	}
	sn := startS3Net(t, 4, 10*time.Minute)
	a := sn.account("cli-user", "1000")
	for i, bin := range awsBins {
		t.Run("aws"+strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) { testAWSCLIOnNet(t, sn, a, bin, fmt.Sprintf("aws-cli-%d", i)) })
	}
	if len(awsBins) == 0 {
		t.Run("aws", func(t *testing.T) { t.Skip("aws-cli not installed (apt-get install -y awscli)") })
	}
	t.Run("rclone", func(t *testing.T) {
		if rcloneErr != nil {
			t.Skip("rclone not installed (apt-get install -y rclone)")
		}
		testRcloneOnNet(t, sn, a, rclone)
	})
}

func testAWSCLIOnNet(t *testing.T, sn *s3Net, a s3Account, bin, bucket string) {
	c := newUserCLI(t, sn.ctx, "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=")
	c.env = append(c.env, "AWS_CONFIG_FILE="+filepath.Join(c.dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.dir, "credentials"))
	// pyenv's shim finds its Python from PYENV_ROOT, which defaults to
	// $HOME/.pyenv: keep the user's.
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		c.env = append(c.env, "PYENV_ROOT="+root)
	} else if home, err := os.UserHomeDir(); err == nil {
		c.env = append(c.env, "PYENV_ROOT="+filepath.Join(home, ".pyenv"))
	}
	// aws at node i: its gateway, its key.
	aws := func(i int, args ...string) string {
		t.Helper()
		k := a.keys[i]
		return c.run([]string{"AWS_ACCESS_KEY_ID=" + k.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + k.SecretAccessKey},
			bin, append([]string{"--endpoint-url", sn.nw.Nodes[i].S3}, args...)...)
	}
	home := c.dir
	small := []byte("hello from aws-cli\n")
	big := pattern(20<<20, 11) // above aws-cli's 8 MiB threshold: parts
	writeFileAll(t, filepath.Join(home, "up/small.txt"), small)
	writeFileAll(t, filepath.Join(home, "up/dir/big.bin"), big)
	writeFileAll(t, filepath.Join(home, "up/dir/sub/x y.txt"), []byte("spaces"))
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
	sameFileBytes(t, filepath.Join(home, "down/big.bin"), big)
	aws(2, "s3", "cp", s3+"/small.txt", "down/small.txt")
	sameFileBytes(t, filepath.Join(home, "down/small.txt"), small)
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
	sameFileBytes(t, filepath.Join(home, "back/small.txt"), small)
	sameFileBytes(t, filepath.Join(home, "back/dir/big.bin"), big)
	sameFileBytes(t, filepath.Join(home, "back/dir/sub/x y.txt"), []byte("spaces"))
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
	writeFileAll(t, filepath.Join(home, "obj.txt"), small)
	aws(1, "s3api", "put-object", "--bucket", api2, "--key", "api/obj", "--body", "obj.txt", "--metadata", "color=green", "--content-type", "text/plain")
	var h struct {
		ETag, ContentType string
		ContentLength     int64
		Metadata          map[string]string
	}
	if err := json.Unmarshal([]byte(aws(3, "s3api", "head-object", "--bucket", api2, "--key", "api/obj")), &h); err != nil {
		t.Fatal(err)
	}
	if h.ETag != `"`+md5hex(small)+`"` || h.Metadata["color"] != "green" || h.ContentType != "text/plain" || h.ContentLength != int64(len(small)) {
		t.Fatalf("head-object at node3: %+v", h)
	}
	var cr struct{ UploadId string }
	if err := json.Unmarshal([]byte(aws(2, "s3api", "create-multipart-upload", "--bucket", api2, "--key", "api/multi")), &cr); err != nil {
		t.Fatal(err)
	}
	writeFileAll(t, filepath.Join(home, "p1"), big[:5<<20])
	writeFileAll(t, filepath.Join(home, "p2"), big[5<<20:6<<20])
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
	if len(l.Contents) != 2 || l.Contents[0].Key != "api/multi" || l.Contents[0].Size != 6<<20 || l.Contents[0].ETag != `"`+multipartETag(big[:5<<20], big[5<<20:6<<20])+`"` ||
		l.Contents[1].Key != "api/obj" {
		t.Fatalf("list-objects-v2 at node0: %+v", l)
	}
	aws(0, "s3api", "get-object", "--bucket", api2, "--key", "api/multi", "multi.bin")
	sameFileBytes(t, filepath.Join(home, "multi.bin"), big[:6<<20])

	aws(3, "s3", "rm", "--recursive", "s3://"+api2+"/")
	aws(3, "s3", "rb", "s3://"+api2)
	aws(1, "s3", "rb", "--force", s3)
	if out := aws(2, "s3", "ls"); strings.Contains(out, bucket) {
		t.Fatalf("buckets still listed at node2:\n%s", out)
	}
}

func testRcloneOnNet(t *testing.T, sn *s3Net, a s3Account, bin string) {
	// A remote nI for every node, from the environment.
	var env []string
	for i, nd := range sn.nw.Nodes {
		p := fmt.Sprintf("RCLONE_CONFIG_N%d_", i)
		env = append(env, p+"TYPE=s3", p+"PROVIDER=Other", p+"ENDPOINT="+nd.S3, p+"REGION=us-east-1",
			p+"ACCESS_KEY_ID="+a.keys[i].AccessKeyID, p+"SECRET_ACCESS_KEY="+a.keys[i].SecretAccessKey, p+"FORCE_PATH_STYLE=true")
	}
	c := newUserCLI(t, sn.ctx, env...)
	home := c.dir
	c.env = append(c.env, "RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"))
	writeFileAll(t, filepath.Join(home, "rclone.conf"), nil)
	rclone := func(args ...string) string {
		t.Helper()
		return c.run(nil, bin, append(args, "--low-level-retries", "1", "--retries", "1",
			"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")...)
	}
	files := map[string][]byte{
		"a.txt":        []byte("alpha\n"),
		"dir/b.bin":    pattern(1<<20, 12),
		"dir/big.bin":  pattern(12<<20, 13), // above the cutoff: multipart
		"dir/sub/c d":  []byte("gamma"),
		"empty":        {},
		"unicode/é.md": []byte("accent"),
	}
	for name, data := range files {
		writeFileAll(t, filepath.Join(home, "src", name), data)
	}
	rclone("mkdir", "n0:rclone-bucket")
	rclone("copy", "src", "n1:rclone-bucket/copy")
	rclone("check", "src", "n2:rclone-bucket/copy")
	var entries []struct {
		Path  string
		Size  int64
		IsDir bool
	}
	if err := json.Unmarshal([]byte(rclone("lsjson", "-R", "--files-only", "n3:rclone-bucket/copy")), &entries); err != nil {
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
	if ls := rclone("ls", "n0:rclone-bucket/copy/dir"); !strings.Contains(ls, "12582912 big.bin") || !strings.Contains(ls, "1048576 b.bin") {
		t.Fatalf("rclone ls at node0:\n%s", ls)
	}

	// sync through node3: a changed file, a new one, a removed one.
	files["a.txt"] = []byte("alpha, changed\n")
	writeFileAll(t, filepath.Join(home, "src/a.txt"), files["a.txt"])
	files["new.txt"] = []byte("new")
	writeFileAll(t, filepath.Join(home, "src/new.txt"), files["new.txt"])
	if err := os.Remove(filepath.Join(home, "src/dir/b.bin")); err != nil {
		t.Fatal(err)
	}
	delete(files, "dir/b.bin")
	rclone("sync", "src", "n3:rclone-bucket/copy")
	rclone("check", "src", "n0:rclone-bucket/copy")
	if ls := rclone("ls", "n1:rclone-bucket/copy"); strings.Contains(ls, "b.bin") || !strings.Contains(ls, "new.txt") {
		t.Fatalf("after sync, at node1:\n%s", ls)
	}
	rclone("deletefile", "n1:rclone-bucket/copy/new.txt")
	delete(files, "new.txt")
	if ls := rclone("ls", "n2:rclone-bucket/copy"); strings.Contains(ls, "new.txt") {
		t.Fatalf("after deletefile, at node2:\n%s", ls)
	}
	rclone("copy", "n2:rclone-bucket/copy", "back")
	for name, data := range files {
		sameFileBytes(t, filepath.Join(home, "back", name), data)
	}
	if _, err := os.Stat(filepath.Join(home, "back/new.txt")); err == nil {
		t.Fatal("new.txt came back after deletefile")
	}
	rclone("purge", "n3:rclone-bucket")
	if ls := rclone("lsd", "n0:"); strings.Contains(ls, "rclone-bucket") {
		t.Fatalf("the bucket after purge, at node0:\n%s", ls)
	}
}
