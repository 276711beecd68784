package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/node"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1048576, true},
		{"0", 0, true},
		{"10GiB", 10 << 30, true},
		{"10gib", 10 << 30, true},
		{"500MB", 500_000_000, true},
		{"500 MB", 500_000_000, true},
		{"1.5GiB", 3 << 29, true},
		{"1.5KB", 1500, true},
		{"2k", 2000, true},
		{"1KiB", 1024, true},
		{"1TiB", 1 << 40, true},
		{"3PB", 3e15, true},
		{"12B", 12, true},
		{"0.5B", 0, false},
		{"1.0000001KiB", 0, false},
		{"10QB", 0, false},
		{"", 0, false},
		{"GiB", 0, false},
		{"-1", 0, false},
		{"1..5MB", 0, false},
		{".5MB", 0, false},
		{"5.MB", 0, false},
		{"1e3", 0, false},
		{"99999999PiB", 0, false},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+tt.in+`"`) {
			t.Errorf("parseSize(%q) error %q does not name the value", tt.in, err)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"720h", 2592000, true},
		{"2592000", 2592000, true},
		{"1h30m", 5400, true},
		{"90s", 90, true},
		{"0", 0, true},
		{"1m0.000s", 60, true},
		{"1.5s", 0, false},
		{"500ms", 0, false},
		{"1h0.5s", 0, false},
		{"-1h", 0, false},
		{"-5", 0, false},
		{"1d", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSeconds(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSeconds(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	// Too long for a Go duration or an int64 says so, and names the maxima.
	for _, in := range []string{"9999999h", "100000000000s", "99999999999999999999", "2562048h"} {
		if _, err := parseSeconds(in); err == nil || !strings.Contains(err.Error(), "too long: a term is at most the network's maximum term") {
			t.Errorf("parseSeconds(%q): %v, want it too long", in, err)
		}
	}
	if _, err := parseSeconds("10y"); err == nil || strings.Contains(err.Error(), "too long") {
		t.Errorf("parseSeconds(10y): %v, want not a duration", err)
	}
}

func TestParseDate(t *testing.T) {
	for in, ok := range map[string]bool{
		"20261101": true, "20240229": true, "20230229": false, "2026-11-01": false,
		"2026111": false, "20261301": false, "": false, "2026110a": false,
	} {
		if _, err := parseDate(in); (err == nil) != ok {
			t.Errorf("parseDate(%q) error %v, want ok=%v", in, err, ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 10 << 30: "10 GiB", 1<<20 - 1: "1023.9 KiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// writeConfig writes a TOML file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dds.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// daemonConfig parses daemon flags as the command does.
func daemonConfig(t *testing.T, args []string, env map[string]string) (node.Config, error) {
	t.Helper()
	fs := newFlagSet("daemon")
	o := daemonFlags(fs)
	if _, err := fs.parse(args, envFunc(env), knownKey); err != nil {
		return node.Config{}, err
	}
	return o.config("/home/u", slog.New(slog.DiscardHandler))
}

func TestDaemonConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
data-dir = "/from/file"
http-addr = "127.0.0.1:1111"
p2p-addr = ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"]
max-upload = "1MiB"
capacity = 1073741824
replicas = 5
dev = true
node = "http://ignored-by-daemon"
`)
	def := node.DefaultConfig()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c node.Config) bool
	}{
		{"defaults", nil, nil, func(c node.Config) bool {
			return c.DataDir == "/home/u/.dds" && c.HTTPAddr == def.HTTPAddr && slices.Equal(c.P2PAddrs, def.P2PAddrs) &&
				c.MaxUpload == 10<<30 && c.Capacity == 100<<30 && c.Replicas == 3 && !c.Dev && c.Bootstrap == nil
		}},
		{"file over defaults", []string{"--config", file}, nil, func(c node.Config) bool {
			return c.DataDir == "/from/file" && c.HTTPAddr == "127.0.0.1:1111" &&
				slices.Equal(c.P2PAddrs, []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"}) &&
				c.MaxUpload == 1<<20 && c.Capacity == 1<<30 && c.Replicas == 5 && c.Dev
		}},
		{"config from env", nil, map[string]string{"DDS_CONFIG": file}, func(c node.Config) bool {
			return c.DataDir == "/from/file"
		}},
		{"env over file", []string{"--config", file}, map[string]string{
			"DDS_DATA_DIR": "~/env", "DDS_P2P_ADDR": "/ip4/127.0.0.1/tcp/3,/ip4/127.0.0.1/tcp/4",
			"DDS_MAX_UPLOAD": "2MiB", "DDS_DEV": "false", "DDS_REPLICAS": "2",
		}, func(c node.Config) bool {
			return c.DataDir == "/home/u/env" && slices.Equal(c.P2PAddrs, []string{"/ip4/127.0.0.1/tcp/3", "/ip4/127.0.0.1/tcp/4"}) &&
				c.MaxUpload == 2<<20 && !c.Dev && c.Replicas == 2 && c.HTTPAddr == "127.0.0.1:1111"
		}},
		{"flag over env", []string{"--config", file, "--data-dir", "/flag", "--p2p-addr", "/ip4/127.0.0.1/tcp/5",
			"--p2p-addr=/ip4/127.0.0.1/tcp/6", "--max-upload", "3MiB", "--replicas=1", "--dev=false"},
			map[string]string{"DDS_DATA_DIR": "/env", "DDS_MAX_UPLOAD": "2MiB", "DDS_P2P_ADDR": "/ip4/127.0.0.1/tcp/3", "DDS_DEV": "true"},
			func(c node.Config) bool {
				return c.DataDir == "/flag" && slices.Equal(c.P2PAddrs, []string{"/ip4/127.0.0.1/tcp/5", "/ip4/127.0.0.1/tcp/6"}) &&
					c.MaxUpload == 3<<20 && c.Replicas == 1 && !c.Dev && c.Capacity == 1<<30
			}},
		{"bootstrap and token", []string{"--bootstrap", "/ip4/1.2.3.4/tcp/7071/p2p/12D3KooW", "--billing-token", "t"},
			map[string]string{"DDS_LOG_LEVEL": "debug"}, func(c node.Config) bool {
				return slices.Equal(c.Bootstrap, []string{"/ip4/1.2.3.4/tcp/7071/p2p/12D3KooW"}) && c.BillingToken == "t"
			}},
	}
	for _, tt := range tests {
		c, err := daemonConfig(t, tt.args, tt.env)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%s: config %+v", tt.name, c)
		}
	}
}

func TestBadValuesNameThemselves(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"flag size", []string{"--max-upload", "10QB"}, nil, "", `--max-upload: invalid size "10QB"`},
		{"flag size =", []string{"--capacity=0"}, nil, "", `--capacity: invalid size "0": must be positive`},
		{"env size", nil, map[string]string{"DDS_MAX_UPLOAD": "10QB"}, "", `DDS_MAX_UPLOAD: invalid size "10QB"`},
		{"file size", nil, nil, `max-upload = "10QB"`, `max-upload: invalid size "10QB"`},
		{"flag int", []string{"--replicas", "many"}, nil, "", `--replicas: invalid number "many"`},
		{"replicas zero", []string{"--replicas", "0"}, nil, "", `--replicas: invalid number "0": at least 1`},
		{"env int", nil, map[string]string{"DDS_REPLICAS": "x"}, "", `DDS_REPLICAS: invalid number "x"`},
		{"file int", nil, nil, `replicas = "x"`, `replicas: invalid number "x"`},
		{"file list for one", nil, nil, `replicas = [1, 2]`, `replicas: a list where one value is expected`},
		{"file table", nil, nil, "[replicas]\nx = 1", `replicas: unsupported value`},
		{"log level", []string{"--log-level", "loud"}, nil, "", `--log-level: invalid value "loud": want one of debug, info, warn, error`},
		{"env log format", nil, map[string]string{"DDS_LOG_FORMAT": "xml"}, "", `DDS_LOG_FORMAT: invalid value "xml"`},
		{"bool env", nil, map[string]string{"DDS_DEV": "maybe"}, "", `DDS_DEV: invalid boolean "maybe"`},
		{"unknown key", nil, nil, "bogus = 1", `unknown key "bogus"`},
		{"config key", nil, nil, `config = "x"`, `unknown key "config"`},
		{"bad toml", nil, nil, "replicas = = 1", "config "},
		{"unknown flag", []string{"--nope"}, nil, "", "unknown flag --nope"},
		{"missing value", []string{"--data-dir"}, nil, "", "flag needs an argument: -data-dir"},
		{"positional", []string{"extra"}, nil, "", `unexpected argument "extra"`},
		{"dev and bootstrap", []string{"--dev", "--bootstrap", "/ip4/1.2.3.4/tcp/1/p2p/x"}, nil, "", "dev: a --dev node"},
		{"missing config", []string{"--config", "/nonexistent/dds.toml"}, nil, "", "--config: open /nonexistent/dds.toml"},
	}
	for _, tt := range tests {
		args := tt.args
		if tt.file != "" {
			args = append(args, "--config", writeConfig(t, tt.file))
		}
		var stdout, stderr bytes.Buffer
		env := tt.env
		if env == nil {
			env = map[string]string{}
		}
		env["HOME"] = "/home/u"
		a := &app{stdout: &stdout, stderr: &stderr, getenv: envFunc(env), version: "test"}
		code := a.run(t.Context(), append([]string{"daemon"}, args...))
		if code != 2 || !strings.HasPrefix(stderr.String(), "dds: ") || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tt.name, code, stderr.String(), tt.want)
		}
	}
	// The exact message of spec/cli.md.
	var stderr bytes.Buffer
	a := &app{stdout: io.Discard, stderr: &stderr, getenv: envFunc(nil)}
	if code := a.run(t.Context(), []string{"daemon", "--max-upload", "10QB"}); code != 2 ||
		stderr.String() != "dds: --max-upload: invalid size \"10QB\"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestConfigSharedBetweenCommands(t *testing.T) {
	file := writeConfig(t, `
node = "http://127.0.0.1:1"
json = true
page-size = 7
data-dir = "/x"
billing-token = "tok"
amount = 0.000000001
`)
	fs := newFlagSet("pay")
	o := payFlags(fs)
	if _, err := fs.parse([]string{"--config", file}, envFunc(map[string]string{"DDS_NODE": "http://env:2"}), knownKey); err != nil {
		t.Fatal(err)
	}
	if o.node.node != "http://env:2" || !o.node.json || o.billingToken != "tok" || o.amount != 1 || !o.amountSet {
		t.Errorf("options %+v, node %+v", o, o.node)
	}
}

func TestInterspersedArgs(t *testing.T) {
	fs := newFlagSet("info")
	o := nodeFlags(fs)
	pos, err := fs.parse([]string{"a", "--json", "b", "--node", "http://x:1", "--", "--c", "-d"}, envFunc(nil), knownKey)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"a", "b", "--c", "-d"}) || !o.json || o.node != "http://x:1" {
		t.Errorf("positional %q, options %+v", pos, o)
	}
}

func TestExpandHome(t *testing.T) {
	for _, tt := range []struct{ in, home, want string }{
		{"~", "/h", "/h"}, {"~/.dds", "/h", "/h/.dds"}, {"/abs", "", "/abs"}, {"rel/~", "/h", "rel/~"}, {"~user/x", "/h", "~user/x"},
	} {
		got, err := expandHome(tt.in, tt.home)
		if err != nil || got != tt.want {
			t.Errorf("expandHome(%q, %q) = %q, %v", tt.in, tt.home, got, err)
		}
	}
	if _, err := expandHome("~/x", ""); err == nil {
		t.Error("no home accepted")
	}
}

func TestHelp(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, getenv: envFunc(nil), version: "v-test"}
		return a.run(context.Background(), args), stdout.String(), stderr.String()
	}
	code, out, _ := run("help")
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("dds help does not list %s", c.name)
		}
	}
	if code != 0 {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	code, out, _ = run("daemon", "--help")
	for _, want := range []string{"--data-dir DIR", "DDS_DATA_DIR", "default ~/.dds", "--p2p-addr MULTIADDR", "(repeatable)",
		"DDS_P2P_ADDR", "default /ip4/0.0.0.0/tcp/7071", "DDS_MAX_UPLOAD, default 10GiB", "default 100GiB", "DDS_LOG_LEVEL, default info",
		"DDS_HTTP_ADDR, default 127.0.0.1:7070", "--dev", "--config FILE"} {
		if !strings.Contains(out, want) {
			t.Errorf("daemon --help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("daemon --help exit %d", code)
	}
	code, out, _ = run("help", "get")
	if code != 0 || !strings.Contains(out, "-o, --output FILE") || !strings.Contains(out, "DDS_NODE, default http://127.0.0.1:7070") {
		t.Errorf("help get: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(); code != 2 || !strings.Contains(errOut, "Commands:") {
		t.Errorf("no command: exit %d", code)
	}
	if code, _, errOut := run("testnet", "--nodes", "0"); code != 2 || !strings.Contains(errOut, "--nodes") {
		t.Errorf("testnet --nodes 0: exit %d %q", code, errOut)
	}
	if code, _, errOut := run("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "dds v-test\ncommit:") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestTokensFlag(t *testing.T) {
	for in, want := range map[string]api.Tokens{"1": 1e9, "0.000123456": 123456, "1e-9": 1} {
		var v api.Tokens
		var set bool
		if err := (tokensValue{&v, &set}).Set(in); err != nil || v != want || !set {
			t.Errorf("%q -> %d, %v", in, v, err)
		}
	}
	for _, in := range []string{"1.0000000001", "-1", "abc", ""} {
		var v api.Tokens
		var set bool
		if err := (tokensValue{&v, &set}).Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
