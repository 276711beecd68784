package main

import (
	"context"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// The files under deploy/ are checked against the real commands, so that
// they cannot name a flag dds does not have, or miss one it has.

const deployDir = "../../deploy"

// daemonKeys are the names of the daemon's flags a config file may set.
func daemonKeys() []string {
	fs := newFlagSet("daemon")
	daemonFlags(fs)
	var keys []string
	for _, d := range fs.defs {
		if d.name != "config" {
			keys = append(keys, d.name)
		}
	}
	return keys
}

// commentedKey is a key = value line commented out: an example value.
var commentedKey = regexp.MustCompile(`(?m)^#\s*([a-z0-9-]+)\s*=`)

// TestExampleConfig loads deploy/dds.toml through the daemon's config
// loader, and checks it sets or shows (commented out) every key the
// daemon reads, and no other.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join(deployDir, "dds.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet("daemon")
	o := daemonFlags(fs)
	if _, err := fs.parse([]string{"--config", path}, envFunc(nil), knownKey); err != nil {
		t.Fatalf("the daemon's loader: %v", err)
	}
	if _, err := o.config(t.TempDir(), newLogger(io.Discard, "info", "text")); err != nil {
		t.Errorf("the daemon refuses its settings: %v", err)
	}
	if o.dataDir != "/var/lib/dds" || o.logFormat != "json" || o.capacity != 100<<30 {
		t.Errorf("loaded data-dir %q log-format %q capacity %d", o.dataDir, o.logFormat, o.capacity)
	}

	var active map[string]any
	if _, err := toml.Decode(string(b), &active); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for k := range active {
		seen[k]++
	}
	for _, m := range commentedKey.FindAllStringSubmatch(string(b), -1) {
		seen[m[1]]++
	}
	keys := daemonKeys()
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("key %s: %d times in %s, want once (set, or commented out with an example)", k, seen[k], path)
		}
	}
	var unknown []string
	for k := range seen {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("%s has keys dds daemon does not read: %v", path, unknown)
	}

	// The commented-out examples are valid values too.
	all := commentedKey.ReplaceAllStringFunc(string(b), func(s string) string { return strings.TrimLeft(s, "# ") })
	allPath := filepath.Join(t.TempDir(), "all.toml")
	if err := os.WriteFile(allPath, []byte(all), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newFlagSetFor("daemon").parse([]string{"--config", allPath}, envFunc(nil), knownKey); err != nil {
		t.Errorf("with every example uncommented: %v", err)
	}
}

// newFlagSetFor returns the flags of the command name.
func newFlagSetFor(name string) *flagSet {
	fs := newFlagSet(name)
	for _, c := range commands() {
		if c.name == name {
			c.define(fs)
		}
	}
	return fs
}

// unitFile reads a systemd unit: section -> key -> values, in order.
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, i+1, line)
			}
			unit[section][k] = append(unit[section][k], v)
		}
	}
	return unit
}

// TestSystemdUnit checks the unit's hardening and that its ExecStart is a
// dds daemon command line the daemon accepts; with systemd-analyze
// installed, also that systemd reads it without a complaint.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "systemd", "dds.service")
	unit := unitFile(t, path)
	svc := unit["Service"]
	for key, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "dds", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"Restart": "on-failure", "LimitNOFILE": "65536", "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("[Service] %s=%v, want %q", key, got, want)
		}
	}
	if got := unit["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy=%v", got)
	}
	exec := svc["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart=%v", exec)
	}
	args := strings.Fields(strings.ReplaceAll(exec[0], "${STATE_DIRECTORY}", "/var/lib/dds"))
	if len(args) < 2 || args[0] != "/usr/local/bin/dds" || args[1] != "daemon" {
		t.Fatalf("ExecStart=%s: want /usr/local/bin/dds daemon ...", exec[0])
	}
	fs := newFlagSetFor("daemon")
	cfg := filepath.Join(deployDir, "dds.toml") // installed as /etc/dds/dds.toml
	for i, a := range args {
		if a == "/etc/dds/dds.toml" {
			args[i] = cfg
		}
	}
	pos, err := fs.parse(args[2:], envFunc(nil), knownKey)
	if err != nil || len(pos) > 0 || fs.config != cfg {
		t.Errorf("ExecStart's flags: %v, arguments %q, config %q (want the example's /etc/dds/dds.toml)", err, pos, fs.config)
	}

	analyze, err := osexec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the unit was only parsed here")
	}
	// verify wants ExecStart's binary to exist: point it at one that does.
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "dds.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/dds", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// It warns of unknown keys and bad values without failing: any output
	// is a complaint.
	out, err := osexec.CommandContext(ctx, analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
