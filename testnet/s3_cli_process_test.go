package testnet

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ddsnet/dds/internal/s3clitest"
)

// aws-cli and rclone against a testnet of 4 dds processes, as a user
// would use them, each command through some node's gateway with that
// node's key: what one gateway stored, the others list and serve.
func TestS3CLIsOnProcessTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs aws-cli and rclone against a process testnet: not in -short")
	}
	awsBins := s3clitest.AWSBinaries()
	rclone, rcloneErr := exec.LookPath("rclone")
	if len(awsBins) == 0 && rcloneErr != nil {
		t.Skip("neither aws-cli nor rclone is installed (apt-get install -y awscli rclone)")
	}
	sn := startS3Net(t, 4, 10*time.Minute)
	a := sn.account("cli-user", "1000")
	var gws []s3clitest.Gateway
	for i, nd := range sn.nw.Nodes {
		gws = append(gws, s3clitest.Gateway{URL: nd.S3, AccessKeyID: a.keys[i].AccessKeyID, SecretAccessKey: a.keys[i].SecretAccessKey})
	}
	for i, bin := range awsBins {
		t.Run("aws"+strings.ReplaceAll(bin, "/", "_"), func(t *testing.T) {
			s3clitest.AWS(t, sn.ctx, bin, fmt.Sprintf("aws-cli-%d", i), gws)
		})
	}
	if len(awsBins) == 0 {
		t.Run("aws", func(t *testing.T) { t.Skip("aws-cli not installed (apt-get install -y awscli)") })
	}
	t.Run("rclone", func(t *testing.T) {
		if rcloneErr != nil {
			t.Skip("rclone not installed (apt-get install -y rclone)")
		}
		s3clitest.Rclone(t, sn.ctx, rclone, gws)
	})
}
