package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

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
