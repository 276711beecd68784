package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func runApp(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, getenv: envFunc(nil), version: "v-test"}
	code = a.run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	old := commit
	t.Cleanup(func() { commit = old })
	commit = "0123456789abcdef0123456789abcdef01234567"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runApp(args...)
		want := "dds v-test\ncommit: 0123456789abcdef0123456789abcdef01234567\ngo:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
		if code != 0 || out != want {
			t.Errorf("%v: exit %d\n%s\nwant\n%s", args, code, out, want)
		}
	}
	code, out, _ := runApp("version", "--json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil {
		t.Fatalf("version --json: exit %d, %v\n%s", code, err, out)
	}
	if b != (buildInfo{Version: "v-test", Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}) {
		t.Errorf("version --json: %+v", b)
	}
	if code, _, errOut := runApp("version", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit %d %q", code, errOut)
	}
	if _, out, _ := runApp("help"); !strings.Contains(out, "\n  version ") {
		t.Errorf("dds help does not list version:\n%s", out)
	}
}

func TestVCSRevision(t *testing.T) {
	for _, tc := range []struct {
		settings []debug.BuildSetting
		rev      string
		modified bool
	}{
		{nil, "", false},
		{[]debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}, "abc", false},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "def"}}, "def", true},
	} {
		if rev, mod := vcsRevision(tc.settings); rev != tc.rev || mod != tc.modified {
			t.Errorf("%v: %q %v", tc.settings, rev, mod)
		}
	}
}

// builtCommit is the commit ddsBinary builds into the binary with -ldflags.
const builtCommit = "feedface"

// TestVersionOfBuiltBinary runs dds version of a binary built with the
// commit in -ldflags, as the Dockerfile and release builds make it.
func TestVersionOfBuiltBinary(t *testing.T) {
	bin := ddsBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("dds version --json: %v", err)
	}
	var b buildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if b.Commit != builtCommit || b.Modified || !strings.HasPrefix(b.Go, "go1.") || b.Version == "" {
		t.Errorf("built binary says %+v", b)
	}
}
