package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// completionScript runs dds completion SHELL and returns the script.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: envFunc(nil), version: "v-test"}
	if code := a.run(context.Background(), []string{"completion", shell}); code != 0 {
		t.Fatalf("dds completion %s: exit %d: %s", shell, code, stderr.String())
	}
	return stdout.String()
}

// shellRun runs the shell with args, bounded in time; it skips the test
// when the shell is not installed.
func shellRun(t *testing.T, shell string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s): its completion script is not checked", shell, shell)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user's rc files
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", shell, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestCompletionScriptsParse checks each script with its shell's parser.
func TestCompletionScriptsParse(t *testing.T) {
	for _, shell := range completionShells {
		t.Run(shell, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "dds."+shell)
			if err := os.WriteFile(file, []byte(completionScript(t, shell)), 0o600); err != nil {
				t.Fatal(err)
			}
			shellRun(t, shell, "-n", file)
		})
	}
}

// TestCompletionCoversCommandsAndFlags checks that every command, every
// flag of each and every choice of a flag's value is in each script, in
// the form that shell completes it from, so the scripts cannot drift from
// the commands.
func TestCompletionCoversCommandsAndFlags(t *testing.T) {
	scripts := map[string]string{}
	for _, shell := range completionShells {
		scripts[shell] = completionScript(t, shell)
	}
	names := []string{"help"}
	for _, c := range commands() {
		names = append(names, c.name)
	}
	for _, name := range names {
		for shell, want := range map[string]string{
			"bash": "\n  " + name + ")\n",
			"zsh":  "\n    '" + name + ":",
			"fish": "__fish_use_subcommand -a " + name + " ",
		} {
			if !strings.Contains(scripts[shell], want) {
				t.Errorf("%s script lacks the command %s (%q)", shell, name, want)
			}
		}
	}
	for _, c := range commands() {
		fs := newFlagSet(c.name)
		c.define(fs)
		bashCase := section(scripts["bash"], "\n  "+c.name+")\n", "\n    ;;\n")
		zshCase := section(scripts["zsh"], "\n  "+c.name+")\n", "\n    ;;\n")
		fishCond := "'__fish_seen_subcommand_from " + c.name + "'"
		for _, d := range fs.defs {
			bashFlags := strings.Fields(section(bashCase, `if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "`, `"`))
			if !slices.Contains(bashFlags, "--"+d.name) {
				t.Errorf("bash: dds %s --%s is not completed", c.name, d.name)
			}
			if !strings.Contains(zshCase, "--"+d.name+"[") && !strings.Contains(zshCase, ",--"+d.name+"}") {
				t.Errorf("zsh: dds %s --%s is not completed", c.name, d.name)
			}
			if !strings.Contains(scripts["fish"], "-n "+fishCond) || !containsLine(scripts["fish"], fishCond, " -l "+d.name+" ") {
				t.Errorf("fish: dds %s --%s is not completed", c.name, d.name)
			}
			if d.alias != "" && (!slices.Contains(bashFlags, "-"+d.alias) || !strings.Contains(zshCase, "{-"+d.alias+",") ||
				!containsLine(scripts["fish"], fishCond, " -s "+d.alias+" ")) {
				t.Errorf("dds %s -%s is not completed in every shell", c.name, d.alias)
			}
			if ch, ok := d.value.(choiceValue); ok {
				words := strings.Join(ch.choices, " ")
				if !strings.Contains(bashCase, "--"+d.name+") COMPREPLY=($(compgen -W \""+words+"\"") ||
					!strings.Contains(zshCase, "--"+d.name+"[") || !strings.Contains(zshCase, ":("+words+")'") ||
					!containsLine(scripts["fish"], fishCond, " -l "+d.name+" -x -a '"+words+"'") {
					t.Errorf("dds %s --%s: its values %s are not completed in every shell", c.name, d.name, words)
				}
			}
		}
	}
}

// section returns the text of s from start to the first end after it.
func section(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, end)
	return body
}

// containsLine reports whether a line of s holds every part.
func containsLine(s string, parts ...string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestBashCompletionCompletes runs the bash script's function as bash
// does on Tab.
func TestBashCompletionCompletes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dds.bash")
	if err := os.WriteFile(file, []byte(completionScript(t, "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words string // the command line, the last word being completed
		want  string
	}{
		{`dds ver`, "version"},
		{`dds comp`, "completion"},
		{`dds completion ""`, "bash zsh fish"},
		{`dds daemon --log-level ""`, "debug info warn error"},
		{`dds daemon --log-f`, "--log-format"},
		{`dds account ""`, "create show credit"},
		{`dds get -`, "--config --node --json --api-key --output -o"},
		{`dds daemon --http-addr ""`, ""},
		{`dds help sta`, "status"},
	} {
		script := "source " + file + "\nCOMP_WORDS=(" + tc.words + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]}-1))\n_dds\necho \"${COMPREPLY[*]}\"\n"
		if got := strings.TrimSpace(shellRun(t, "bash", "-c", script)); got != tc.want {
			t.Errorf("%s<Tab>: %q, want %q", tc.words, got, tc.want)
		}
	}
}

// TestFishCompletionCompletes asks fish what it completes with the script.
func TestFishCompletionCompletes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dds.fish")
	if err := os.WriteFile(file, []byte(completionScript(t, "fish")), 0o600); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string][]string{
		"dds daemon --log-level ": {"debug", "info", "warn", "error"},
		"dds vers":                {"version"},
		"dds get -":               {"-o", "--output", "--node"},
		"dds member ":             {"remove"},
	} {
		out := shellRun(t, "fish", "-c", "source "+file+"; complete -C '"+line+"'")
		var got []string
		for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			w, _, _ := strings.Cut(l, "\t")
			got = append(got, w)
		}
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("%q<Tab>: %q, want %s among them", line, got, w)
			}
		}
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, getenv: envFunc(nil), version: "v-test"}
		if code := a.run(context.Background(), args); code != 2 || !strings.Contains(stderr.String(), "dds: ") {
			t.Errorf("%v: exit %d, %q", args, code, stderr.String())
		}
	}
}

// TestZshCompletionDispatches loads the zsh script through compinit and
// calls its function as zsh does on Tab, with _describe and _arguments
// standing in to print what they are given.
func TestZshCompletionDispatches(t *testing.T) {
	file := filepath.Join(t.TempDir(), "_dds")
	if err := os.WriteFile(file, []byte(completionScript(t, "zsh")), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `autoload -Uz compinit && compinit -u -D -d /dev/null
source ` + file + `
print -r -- "registered ${_comps[dds]}"
_describe() { print -r -- "commands ${(P)4}" }
_arguments() { print -rl -- "$@" }
words=(dds ""); CURRENT=2; _dds
words=(dds daemon ""); CURRENT=3; _dds
words=(dds get -); CURRENT=3; _dds
`
	out := shellRun(t, "zsh", "-f", "-c", script)
	for _, want := range []string{
		"registered _dds",
		"commands daemon:run a node",
		"version:print the version",
		"--log-level[log level]:log-level:(debug info warn error)",
		"--data-dir[chunks, ledger, identity key and billing token]:data-dir:_files -/",
		"*--p2p-addr[libp2p listen address]:p2p-addr: ",
		"(-o --output)--output[write to FILE]:output:_files",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("zsh completion lacks %q:\n%s", want, out)
		}
	}
}
