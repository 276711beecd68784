package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.yaml.in/yaml/v3"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/p2p"
)

// Docker cannot run here (nor in CI), and hadolint is not packaged for
// Debian: these tests hold the Dockerfile to the rules that matter and
// the compose file to the real dds commands and flags.

// daemonEnv reports whether name is the environment variable of a daemon
// flag.
func daemonEnv(name string) bool {
	return slices.ContainsFunc(daemonKeys(), func(k string) bool { return envName(k) == name })
}

// dockerInstruction is one instruction of a Dockerfile, continuation
// lines joined.
type dockerInstruction struct {
	cmd  string // upper case
	args string
}

func readDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur string
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur != "" && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		cur += " " + trimmed
		if strings.HasSuffix(cur, "\\") {
			cur = strings.TrimSuffix(cur, "\\")
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur), " ")
		out = append(out, dockerInstruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t, "../../Dockerfile")
	args := map[string]string{} // the ARG defaults before the first FROM
	var froms []string
	lastUser, healthcheck, entrypoint := "", "", ""
	var build []string // the build stage's RUN lines
	var env []string
	var volumes, expose []string
	stage := -1
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if stage == -1 {
				k, v, _ := strings.Cut(in.args, "=")
				args[k] = v
			}
		case "FROM":
			stage++
			from := os.Expand(in.args, func(k string) string { return args[k] })
			froms = append(froms, from)
			image, _, _ := strings.Cut(from, " ")
			name, tag, ok := strings.Cut(image, ":")
			if !ok || tag == "" || tag == "latest" || strings.Contains(tag, "$") {
				t.Errorf("FROM %s: the base image %s is not pinned to a version", in.args, name)
			}
		case "RUN":
			if stage == 0 {
				build = append(build, in.args)
			}
			if strings.Contains(in.args, "apk add") || strings.Contains(in.args, "apt-get install") {
				t.Errorf("RUN %s: installs packages (pin their versions, as hadolint's DL3018/DL3008 ask, or do without)", in.args)
			}
		case "USER":
			lastUser = in.args
		case "HEALTHCHECK":
			healthcheck = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "ENV":
			env = append(env, strings.Fields(in.args)...)
		case "VOLUME":
			volumes = append(volumes, in.args)
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "COPY", "WORKDIR", "CMD", "LABEL":
		default:
			t.Errorf("unexpected instruction %s", in.cmd)
		}
	}
	if len(froms) < 2 || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("not a multi-stage build with a build stage first: FROM %q", froms)
	}
	if strings.HasPrefix(froms[len(froms)-1], "golang:") {
		t.Errorf("the final image is the Go toolchain's: %s", froms[len(froms)-1])
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(goMod); want == nil || args["GO_VERSION"] != string(want[1]) {
		t.Errorf("ARG GO_VERSION=%s, go.mod wants go %s", args["GO_VERSION"], want[1])
	}
	built := strings.Join(build, "\n")
	for _, want := range []string{"go build", "-trimpath", "-X main.commit=${COMMIT}", "./cmd/dds"} {
		if !strings.Contains(built, want) {
			t.Errorf("the build stage's go build lacks %s:\n%s", want, built)
		}
	}
	if !slices.Contains(env, "CGO_ENABLED=0") && !strings.Contains(built, "CGO_ENABLED=0") {
		t.Error("the binary is not built with CGO_ENABLED=0 (a static binary)")
	}
	if user, _, _ := strings.Cut(lastUser, ":"); user == "" || user == "0" || user == "root" {
		t.Errorf("the image runs as %q: want a non-root USER", lastUser)
	}
	if !strings.HasPrefix(entrypoint, "[") || !strings.HasPrefix(healthcheck, "--") || !strings.Contains(healthcheck, `CMD [`) {
		t.Errorf("ENTRYPOINT %s, HEALTHCHECK %s: want the exec (JSON) form", entrypoint, healthcheck)
	}
	dataDir := ""
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "DDS_") && !daemonEnv(k) {
			t.Errorf("ENV %s: no dds daemon flag reads it", k)
		}
		if k == "DDS_DATA_DIR" {
			dataDir = v
		}
	}
	if dataDir == "" || !slices.Contains(volumes, fmt.Sprintf("[%q]", dataDir)) {
		t.Errorf("the data dir %q is not a VOLUME (%v)", dataDir, volumes)
	}
	for _, p := range []string{"7070/tcp", "7071/tcp", "7071/udp"} {
		if !slices.Contains(expose, p) {
			t.Errorf("EXPOSE lacks %s", p)
		}
	}

	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	if !slices.Contains(lines, ".git") {
		t.Error(".dockerignore does not leave out .git")
	}
	for _, need := range []string{"go.mod", "go.sum", "cmd", "api"} {
		if slices.Contains(lines, need) || slices.Contains(lines, need+"/") {
			t.Errorf(".dockerignore leaves out %s, which the build needs", need)
		}
	}
}

// composeFile is the part of a compose file the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]any    `yaml:"build"`
		User        string            `yaml:"user"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// singleDollar finds a "$" that compose would interpolate: one not
// doubled.
var singleDollar = regexp.MustCompile(`(^|[^$])(\$\$)*\$[^$]`)

// ddsCall finds the dds command lines of a shell script.
var ddsCall = regexp.MustCompile(`\bdds ([a-z0-9-]+)([^)\n]*)`)

func TestComposeFile(t *testing.T) {
	path := filepath.Join(deployDir, "compose.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	nodes := []string{"node0", "node1", "node2", "node3"}
	hostPorts := map[string]string{}
	for name, s := range cf.Services {
		if s.Image != "dds:local" || s.Build["context"] != ".." || s.Build["dockerfile"] != "Dockerfile" {
			t.Errorf("service %s: image %q build %v: want dds:local built from the repository's Dockerfile", name, s.Image, s.Build)
		}
		for k := range s.Environment {
			if !daemonEnv(k) {
				t.Errorf("service %s: environment %s is no dds daemon flag's", name, k)
			}
		}
		for _, v := range s.Volumes {
			vol, _, _ := strings.Cut(v, ":")
			if _, ok := cf.Volumes[vol]; !ok {
				t.Errorf("service %s mounts the volume %s, which is not declared", name, vol)
			}
		}
		for _, p := range s.Ports {
			hostPort := strings.Join(strings.Split(p, ":")[:2], ":")
			if other, ok := hostPorts[hostPort]; ok {
				t.Errorf("services %s and %s both publish %s", other, name, hostPort)
			}
			hostPorts[hostPort] = name
		}
	}
	for i, name := range nodes {
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.User != "" {
			t.Errorf("%s runs as %q, not the image's user", name, s.User)
		}
		if !slices.Contains(s.Volumes, name+":/var/lib/dds") {
			t.Errorf("%s: volumes %v, want %s:/var/lib/dds", name, s.Volumes, name)
		}
		if len(s.Command) == 0 || s.Command[0] != "daemon" {
			t.Fatalf("%s: command %v, want daemon ...", name, s.Command)
		}
		fs := newFlagSetFor("daemon")
		if i > 0 {
			if !slices.Equal(s.Command, []string{"daemon", "--config", "/var/lib/dds/join.toml"}) {
				t.Errorf("%s: command %v, want it to read the join.toml init makes", name, s.Command)
			}
			if s.DependsOn["init"].Condition != "service_completed_successfully" {
				t.Errorf("%s does not wait for init to succeed: %v", name, s.DependsOn)
			}
			continue
		}
		env := func(k string) string { return s.Environment[k] }
		if pos, err := fs.parse(s.Command[1:], env, knownKey); err != nil || len(pos) > 0 {
			t.Errorf("%s: command %v: %v, arguments %q", name, s.Command, err, pos)
		}
	}

	initSvc, ok := cf.Services["init"]
	if !ok {
		t.Fatal("no init service")
	}
	if !slices.Equal(initSvc.Entrypoint, []string{"/bin/sh", "-eu", "-c"}) || len(initSvc.Command) != 1 {
		t.Fatalf("init: entrypoint %v command %d strings: want a shell script", initSvc.Entrypoint, len(initSvc.Command))
	}
	if initSvc.DependsOn["node0"].Condition == "" {
		t.Errorf("init does not start after node0: %v", initSvc.DependsOn)
	}
	script := initSvc.Command[0]
	if m := singleDollar.FindString(script); m != "" {
		t.Errorf("init's script has a single $ (%q), which compose would replace: write $$", m)
	}
	for _, n := range nodes {
		want := n + ":/nodes/" + n
		if n == "node0" {
			want += ":ro"
		}
		if !slices.Contains(initSvc.Volumes, want) {
			t.Errorf("init: volumes %v lack %s", initSvc.Volumes, want)
		}
	}
	calls := ddsCall.FindAllStringSubmatch(script, -1)
	var used []string
	for _, c := range calls {
		used = append(used, c[1])
		fs := newFlagSetFor(c[1])
		if len(fs.defs) == 1 { // only --config: no such command
			t.Errorf("init runs dds %s, which is no dds command", c[1])
			continue
		}
		for _, f := range regexp.MustCompile(`--([a-z0-9-]+)`).FindAllStringSubmatch(c[2], -1) {
			if !slices.ContainsFunc(fs.defs, func(d *flagDef) bool { return d.name == f[1] }) {
				t.Errorf("init runs dds %s --%s, which it does not have", c[1], f[1])
			}
		}
	}
	if !slices.Contains(used, "identity") || !slices.Contains(used, "invite") {
		t.Errorf("init runs dds %v: want identity and invite", used)
	}
	if !strings.Contains(script, "/nodes/node0/admission.key") {
		t.Error("init does not sign with the admission key node0 makes in its data dir")
	}

	// The join.toml init writes loads through the daemon's loader, with
	// the keys a joining node needs.
	format := regexp.MustCompile(`printf '([^']*)'`).FindStringSubmatch(script)
	if format == nil || !strings.Contains(script, `> "$$dir/join.toml"`) {
		t.Fatalf("init does not printf a join.toml into each node's volume:\n%s", script)
	}
	toml := strings.ReplaceAll(format[1], `\n`, "\n")
	toml = strings.Replace(toml, "%s", "/dns4/node0/tcp/7071/p2p/12D3KooWEJFrxHfmVH1WYjnpf8pKud1WbxX6S2cM32kcPj5ymGxh", 1)
	toml = strings.Replace(toml, "%s", "an-invite", 1)
	join := filepath.Join(t.TempDir(), "join.toml")
	if err := os.WriteFile(join, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet("daemon")
	o := daemonFlags(fs)
	if _, err := fs.parse([]string{"--config", join}, envFunc(nil), knownKey); err != nil {
		t.Fatalf("join.toml %q: %v", toml, err)
	}
	if len(o.bootstrap) != 1 || o.invite != "an-invite" {
		t.Errorf("join.toml gives bootstrap %v invite %q", o.bootstrap, o.invite)
	}
}

// TestComposeInitScript runs the compose file's init script (as compose
// hands it to the shell) with the real dds on directories standing for
// the volumes, and checks each joining node gets a join.toml with node0's
// address and an invite the network's admission key signed for that
// node's peer id.
func TestComposeInitScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(cf.Services["init"].Command[0], "$$", "$")
	dir := t.TempDir()
	script = strings.ReplaceAll(script, "/nodes/", dir+"/")
	if os.Geteuid() != 0 {
		// Only root hands files to another user; the rest runs as anyone.
		script = strings.ReplaceAll(script, "chown -R 10001:10001", ": chown")
	}
	ident, err := p2p.LoadOrCreateKey(filepath.Join(dir, "node0"))
	if err != nil {
		t.Fatal(err)
	}
	node0, _ := peer.IDFromPrivateKey(ident)
	admission, err := p2p.LoadOrCreateKeyFile(filepath.Join(dir, "node0", p2p.AdmissionKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p2p.RawKey(admission)
	if err != nil {
		t.Fatal(err)
	}
	bin := ddsBinary(t)
	runInit := func() string {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := osexec.CommandContext(ctx, "sh", "-eu", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		return string(out)
	}
	out := runInit()
	joins := map[string]string{}
	for _, n := range []string{"node1", "node2", "node3"} {
		nodeDir := filepath.Join(dir, n)
		key, err := p2p.LoadKeyFile(filepath.Join(nodeDir, p2p.KeyFile))
		if err != nil {
			t.Fatalf("%s has no identity key: %v\n%s", n, err, out)
		}
		id, _ := peer.IDFromPrivateKey(key)
		join := filepath.Join(nodeDir, "join.toml")
		fs := newFlagSet("daemon")
		o := daemonFlags(fs)
		if _, err := fs.parse([]string{"--config", join}, envFunc(nil), knownKey); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if want := "/dns4/node0/tcp/7071/p2p/" + node0.String(); !slices.Equal(o.bootstrap, []string{want}) {
			t.Errorf("%s: bootstrap %v, want %s", n, o.bootstrap, want)
		}
		iv, err := billing.ParseInvite(o.invite)
		if err != nil {
			t.Fatalf("%s: invite %q: %v", n, o.invite, err)
		}
		if err := iv.Check(raw.Public().(ed25519.PublicKey), id.String(), time.Now()); err != nil {
			t.Errorf("%s: the invite does not admit its peer id %s: %v", n, id, err)
		}
		if err := iv.Check(raw.Public().(ed25519.PublicKey), id.String(), time.Now().Add(25*time.Hour)); err == nil {
			t.Errorf("%s: the invite is good for more than 24 h", n)
		}
		st, err := os.Stat(join)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: join.toml mode %v, %v: want 0600", n, st.Mode(), err)
		}
		b, _ := os.ReadFile(join)
		joins[n] = string(b) + "# the node joined with this\n"
		if err := os.WriteFile(join, []byte(joins[n]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Run again (compose up once more): the nodes keep what they joined with.
	runInit()
	for n, before := range joins {
		if b, _ := os.ReadFile(filepath.Join(dir, n, "join.toml")); string(b) != before {
			t.Errorf("%s: init run again rewrote join.toml", n)
		}
	}
}
