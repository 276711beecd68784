package s3

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddsnet/dds/internal/s3clitest"
)

// TestAWSCLI drives aws-cli against the gateway (the scenario of
// s3clitest.AWS). It runs every distinct aws on the machine: the one on
// PATH and Debian's /usr/bin/aws (awscli 2.9 in bookworm), since
// botocore's defaults (checksum trailers, aws-chunked) changed between
// versions.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts aws-cli many times: not in -short")
	}
	bins := s3clitest.AWSBinaries()
	if len(bins) == 0 {
		t.Skip("aws-cli not installed (apt-get install -y awscli)")
	}
	for _, bin := range bins {
		t.Run(strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) {
			g := newGateway(t)
			s3clitest.AWS(t, t.Context(), bin, "clibucket", []s3clitest.Gateway{{URL: g.srv.URL, AccessKeyID: testKey, SecretAccessKey: testSecret}})
		})
	}
}

// TestRclone drives rclone (Debian's) against the gateway with an S3
// remote configured from the environment (the scenario of
// s3clitest.Rclone).
func TestRclone(t *testing.T) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone not installed (apt-get install -y rclone)")
	}
	if testing.Short() {
		t.Skip("starts rclone many times: not in -short")
	}
	g := newGateway(t)
	s3clitest.Rclone(t, t.Context(), bin, []s3clitest.Gateway{{URL: g.srv.URL, AccessKeyID: testKey, SecretAccessKey: testSecret}})
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
	c := s3clitest.NewRunner(t, t.Context())
	home := c.Dir
	host := strings.TrimPrefix(g.srv.URL, "http://")
	conf := filepath.Join(home, "s3cfg")
	s3clitest.WriteFile(t, conf, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\nbucket_location = us-east-1\nsignature_v2 = False\nmultipart_chunk_size_mb = 5\n",
		testKey, testSecret, host, host)))
	s3cmd := func(args ...string) string { return c.Run(nil, bin, append([]string{"-c", conf}, args...)...) }
	big := patternBytes(11<<20, 3)
	s3clitest.WriteFile(t, filepath.Join(home, "big.bin"), big)
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
	s3clitest.SameFile(t, filepath.Join(home, "down.bin"), big)
	s3cmd("del", "--recursive", "--force", "s3://cmdbucket")
	s3cmd("rb", "s3://cmdbucket")
}
