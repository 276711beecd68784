package s3

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

// cli runs a client program against the gateway with a time bound.
type cli struct {
	t   *testing.T
	env []string
	dir string
}

func (c cli) run(name string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", path, len(got), len(want))
	}
}

// TestAWSCLI drives aws-cli against the gateway: the high-level s3
// commands (which upload above 8 MiB in parts and download in ranges) and
// s3api calls. It runs every distinct aws on the machine: the one on PATH
// and Debian's /usr/bin/aws (awscli 2.9 in bookworm), since botocore's
// defaults (checksum trailers, aws-chunked) changed between versions.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts aws-cli many times: not in -short")
	}
	var bins []string
	if p, err := exec.LookPath("aws"); err == nil {
		bins = append(bins, p)
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil && !slices.Contains(bins, "/usr/bin/aws") {
		bins = append(bins, "/usr/bin/aws")
	}
	if len(bins) == 0 {
		t.Skip("aws-cli not installed (apt-get install -y awscli)")
	}
	for _, bin := range bins {
		t.Run(strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) { testAWSCLI(t, bin) })
	}
}

func testAWSCLI(t *testing.T, bin string) {
	g := newGateway(t)
	home := t.TempDir()
	c := cli{t: t, dir: home, env: []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + testKey, "AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
	}}
	aws := func(args ...string) string {
		return c.run(bin, append([]string{"--endpoint-url", g.srv.URL}, args...)...)
	}
	small := []byte("hello from aws-cli\n")
	big := patternBytes(20<<20, 9)
	writeFile(t, filepath.Join(home, "up/small.txt"), small)
	writeFile(t, filepath.Join(home, "up/dir/big.bin"), big)
	writeFile(t, filepath.Join(home, "up/dir/sub/x y.txt"), []byte("spaces"))

	aws("s3", "mb", "s3://clibucket")
	aws("s3", "cp", "up/small.txt", "s3://clibucket/small.txt")
	aws("s3", "cp", "up/dir/big.bin", "s3://clibucket/dir/big.bin")
	ls := aws("s3", "ls", "s3://clibucket/")
	if !strings.Contains(ls, "PRE dir/") || !strings.Contains(ls, "small.txt") {
		t.Fatalf("aws s3 ls:\n%s", ls)
	}
	aws("s3", "cp", "s3://clibucket/dir/big.bin", "down/big.bin")
	sameFile(t, filepath.Join(home, "down/big.bin"), big)
	head := aws("s3api", "head-object", "--bucket", "clibucket", "--key", "dir/big.bin")
	if !strings.Contains(head, `-3\"`) { // 20 MiB in 8 MiB parts
		t.Fatalf("multipart upload's ETag:\n%s", head)
	}

	aws("s3", "sync", "up", "s3://clibucket/sync/")
	rec := aws("s3", "ls", "--recursive", "s3://clibucket/sync/")
	for _, k := range []string{"sync/small.txt", "sync/dir/big.bin", "sync/dir/sub/x y.txt"} {
		if !strings.Contains(rec, k) {
			t.Fatalf("after sync, %s missing:\n%s", k, rec)
		}
	}
	if again := aws("s3", "sync", "up", "s3://clibucket/sync/"); strings.Contains(again, "upload:") {
		t.Fatalf("a second sync uploaded again:\n%s", again)
	}
	aws("s3", "sync", "s3://clibucket/sync/", "back")
	sameFile(t, filepath.Join(home, "back/dir/big.bin"), big)
	sameFile(t, filepath.Join(home, "back/dir/sub/x y.txt"), []byte("spaces"))
	aws("s3", "rm", "s3://clibucket/small.txt")
	aws("s3", "rm", "--recursive", "s3://clibucket/sync/")
	if rest := aws("s3", "ls", "--recursive", "s3://clibucket/"); strings.Contains(rest, "sync/") || strings.Contains(rest, "small.txt") {
		t.Fatalf("after rm:\n%s", rest)
	}

	// s3api.
	aws("s3api", "put-object", "--bucket", "clibucket", "--key", "api/obj", "--body", "up/small.txt",
		"--metadata", "color=green", "--content-type", "text/plain")
	var h struct {
		ETag, ContentType string
		ContentLength     int64
		Metadata          map[string]string
	}
	if err := json.Unmarshal([]byte(aws("s3api", "head-object", "--bucket", "clibucket", "--key", "api/obj")), &h); err != nil {
		t.Fatal(err)
	}
	if h.ETag != quote(md5hex(small)) || h.Metadata["color"] != "green" || h.ContentType != "text/plain" || h.ContentLength != int64(len(small)) {
		t.Fatalf("head-object: %+v", h)
	}
	aws("s3api", "get-object", "--bucket", "clibucket", "--key", "api/obj", "--range", "bytes=0-4", "part.txt")
	sameFile(t, filepath.Join(home, "part.txt"), small[:5])
	var l struct {
		Contents []struct{ Key string }
	}
	if err := json.Unmarshal([]byte(aws("s3api", "list-objects-v2", "--bucket", "clibucket", "--prefix", "api/")), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || l.Contents[0].Key != "api/obj" {
		t.Fatalf("list-objects-v2: %+v", l)
	}
	var cr struct{ UploadId string }
	if err := json.Unmarshal([]byte(aws("s3api", "create-multipart-upload", "--bucket", "clibucket", "--key", "api/multi")), &cr); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "p1"), big[:5<<20])
	writeFile(t, filepath.Join(home, "p2"), big[5<<20:6<<20])
	var parts []string
	for i, p := range []string{"p1", "p2"} {
		var up struct{ ETag string }
		if err := json.Unmarshal([]byte(aws("s3api", "upload-part", "--bucket", "clibucket", "--key", "api/multi",
			"--upload-id", cr.UploadId, "--part-number", fmt.Sprint(i+1), "--body", p)), &up); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, up.ETag))
	}
	aws("s3api", "complete-multipart-upload", "--bucket", "clibucket", "--key", "api/multi", "--upload-id", cr.UploadId,
		"--multipart-upload", `{"Parts":[`+strings.Join(parts, ",")+`]}`)
	aws("s3api", "get-object", "--bucket", "clibucket", "--key", "api/multi", "multi.bin")
	sameFile(t, filepath.Join(home, "multi.bin"), big[:6<<20])
	aws("s3api", "delete-objects", "--bucket", "clibucket", "--delete", `{"Objects":[{"Key":"api/obj"},{"Key":"api/multi"}]}`)
	aws("s3", "rm", "--recursive", "s3://clibucket/")
	aws("s3", "rb", "s3://clibucket")
	if out := aws("s3", "ls"); strings.Contains(out, "clibucket") {
		t.Fatalf("bucket still listed:\n%s", out)
	}
}

// TestRclone drives rclone (Debian's) against the gateway with an S3
// remote configured from the environment: copy (with multipart parts),
// check, sync, ls, lsjson, deletefile and a copy back.
func TestRclone(t *testing.T) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone not installed (apt-get install -y rclone)")
	}
	if testing.Short() {
		t.Skip("starts rclone many times: not in -short")
	}
	g := newGateway(t)
	home := t.TempDir()
	c := cli{t: t, dir: home, env: []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"RCLONE_CONFIG=" + filepath.Join(home, "rclone.conf"),
		"RCLONE_CONFIG_DDS_TYPE=s3", "RCLONE_CONFIG_DDS_PROVIDER=Other",
		"RCLONE_CONFIG_DDS_ENDPOINT=" + g.srv.URL, "RCLONE_CONFIG_DDS_REGION=us-east-1",
		"RCLONE_CONFIG_DDS_ACCESS_KEY_ID=" + testKey, "RCLONE_CONFIG_DDS_SECRET_ACCESS_KEY=" + testSecret,
		"RCLONE_CONFIG_DDS_FORCE_PATH_STYLE=true",
	}}
	writeFile(t, filepath.Join(home, "rclone.conf"), nil)
	rclone := func(args ...string) string {
		return c.run(bin, append(args, "--low-level-retries", "1", "--retries", "1",
			"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")...)
	}
	files := map[string][]byte{
		"a.txt":        []byte("alpha\n"),
		"dir/b.bin":    patternBytes(1<<20, 1),
		"dir/big.bin":  patternBytes(12<<20, 2), // above the cutoff: multipart
		"dir/sub/c d":  []byte("gamma"),
		"empty":        {},
		"unicode/é.md": []byte("accent"),
	}
	for name, data := range files {
		writeFile(t, filepath.Join(home, "src", name), data)
	}
	rclone("mkdir", "dds:rbucket")
	rclone("copy", "src", "dds:rbucket/copy")
	rclone("check", "src", "dds:rbucket/copy")
	var entries []struct {
		Path  string
		Size  int64
		IsDir bool
	}
	if err := json.Unmarshal([]byte(rclone("lsjson", "-R", "--files-only", "dds:rbucket/copy")), &entries); err != nil {
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
		t.Fatalf("lsjson: %v", names)
	}
	if ls := rclone("ls", "dds:rbucket/copy/dir"); !strings.Contains(ls, "12582912 big.bin") {
		t.Fatalf("rclone ls:\n%s", ls)
	}

	// sync: a changed file, a new one, a removed one.
	files["a.txt"] = []byte("alpha, changed\n")
	writeFile(t, filepath.Join(home, "src/a.txt"), files["a.txt"])
	writeFile(t, filepath.Join(home, "src/new.txt"), []byte("new"))
	os.Remove(filepath.Join(home, "src/dir/b.bin"))
	rclone("sync", "src", "dds:rbucket/copy")
	rclone("check", "src", "dds:rbucket/copy")
	rclone("deletefile", "dds:rbucket/copy/new.txt")
	if ls := rclone("ls", "dds:rbucket/copy"); strings.Contains(ls, "new.txt") || strings.Contains(ls, "b.bin") {
		t.Fatalf("after sync and deletefile:\n%s", ls)
	}
	rclone("copy", "dds:rbucket/copy", "back")
	for name, data := range files {
		if name == "dir/b.bin" {
			continue
		}
		sameFile(t, filepath.Join(home, "back", name), data)
	}
	rclone("purge", "dds:rbucket")
}

// TestS3cmd drives s3cmd (Debian's) against the gateway: path-style,
// SigV4, multipart above its 15 MiB default chunk when asked for 5 MiB.
func TestS3cmd(t *testing.T) {
	bin, err := exec.LookPath("s3cmd")
	if err != nil {
		t.Skip("s3cmd not installed (apt-get install -y s3cmd)")
	}
	if testing.Short() {
		t.Skip("starts s3cmd several times: not in -short")
	}
	g := newGateway(t)
	home := t.TempDir()
	host := strings.TrimPrefix(g.srv.URL, "http://")
	conf := filepath.Join(home, "s3cfg")
	writeFile(t, conf, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nbucket_location = us-east-1\nsignature_v2 = False\nmultipart_chunk_size_mb = 5\n",
		testKey, testSecret, host, host)))
	c := cli{t: t, dir: home, env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}}
	s3cmd := func(args ...string) string { return c.run(bin, append([]string{"-c", conf}, args...)...) }
	big := patternBytes(11<<20, 3)
	writeFile(t, filepath.Join(home, "big.bin"), big)
	s3cmd("mb", "s3://cmdbucket")
	s3cmd("put", "big.bin", "s3://cmdbucket/dir/big.bin")
	s3cmd("put", "--add-header=x-amz-meta-tag:v1", "s3cfg", "s3://cmdbucket/conf")
	if ls := s3cmd("ls", "-r", "s3://cmdbucket"); !strings.Contains(ls, "s3://cmdbucket/dir/big.bin") || !strings.Contains(ls, "s3://cmdbucket/conf") {
		t.Fatalf("s3cmd ls:\n%s", ls)
	}
	if info := s3cmd("info", "s3://cmdbucket/conf"); !strings.Contains(info, "x-amz-meta-tag: v1") {
		t.Fatalf("s3cmd info:\n%s", info)
	}
	s3cmd("get", "s3://cmdbucket/dir/big.bin", "down.bin")
	sameFile(t, filepath.Join(home, "down.bin"), big)
	s3cmd("del", "--recursive", "--force", "s3://cmdbucket")
	s3cmd("rb", "s3://cmdbucket")
}
