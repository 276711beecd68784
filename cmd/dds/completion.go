package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// The completion scripts are generated from commands() and the flags each
// command defines, so that a new command or flag completes without anyone
// editing a script.

type completionOptions struct{}

func completionCommand(fs *flagSet) runner { return (&completionOptions{}).run }

// completionShells are the shells dds completion writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

func (o *completionOptions) run(_ context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("missing shell (one of %s)", strings.Join(completionShells, ", "))
	}
	if err := wantArgs(args, "shell"); err != nil {
		return err
	}
	cmds := completionModel()
	switch args[0] {
	case "bash":
		return writeBashCompletion(a.stdout, cmds)
	case "zsh":
		return writeZshCompletion(a.stdout, cmds)
	case "fish":
		return writeFishCompletion(a.stdout, cmds)
	}
	return usagef("unknown shell %q (one of %s)", args[0], strings.Join(completionShells, ", "))
}

// compCommand is what a completion script knows of a command.
type compCommand struct {
	name    string
	summary string
	flags   []compFlag
	words   []string // first positional argument's choices (account: create, show, credit)
	files   bool     // its positional arguments are files
}

// compFlag is what a completion script knows of a flag.
type compFlag struct {
	name    string
	alias   string
	usage   string
	value   bool     // takes a value (all but the booleans)
	choices []string // the values it takes, when they are a fixed set
	files   bool     // the value is a file
	dirs    bool     // the value is a directory
	repeat  bool
}

// completionModel reads the commands and their flags, with "help" last.
func completionModel() []compCommand {
	var out []compCommand
	for _, c := range commands() {
		fs := newFlagSet(c.name)
		c.define(fs)
		cc := compCommand{name: c.name, summary: c.summary}
		cc.words, cc.files = positionalWords(c.args)
		for _, d := range fs.defs {
			f := compFlag{name: d.name, alias: d.alias, usage: d.usage, value: true, repeat: d.list}
			if b, ok := d.value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				f.value = false
			}
			if ch, ok := d.value.(choiceValue); ok {
				f.choices = ch.choices
			}
			f.files = d.placeholder == "FILE"
			f.dirs = d.placeholder == "DIR"
			cc.flags = append(cc.flags, f)
		}
		out = append(out, cc)
	}
	help := compCommand{name: "help", summary: "show the commands, or a command's flags"}
	for _, c := range out {
		help.words = append(help.words, c.name)
	}
	return append(out, help)
}

// positionalWords reads a command's argument synopsis: the lower-case
// words that start its alternatives ("create NAME | show [ID]" -> create,
// show), and whether it takes a FILE.
func positionalWords(args string) (words []string, files bool) {
	for _, alt := range strings.Split(args, "|") {
		f := strings.Fields(alt)
		if len(f) == 0 {
			continue
		}
		if w := f[0]; strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLower(r) && r != '-' }) < 0 {
			words = append(words, w)
		}
		if slices.Contains(f, "FILE") {
			files = true
		}
	}
	return words, files
}

// shortUsage is a flag's usage up to its first aside, for a completion menu.
func shortUsage(s string) string {
	if i := strings.IndexAny(s, "(;"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func writeBashCompletion(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString("# bash completion for dds: eval \"$(dds completion bash)\", or save it as\n")
	b.WriteString("# /usr/share/bash-completion/completions/dds\n")
	b.WriteString("_dds() {\n")
	b.WriteString("  local cur prev\n")
	b.WriteString("  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n")
	b.WriteString("  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("  COMPREPLY=()\n")
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	fmt.Fprintf(&b, "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n    return\n  fi\n", strings.Join(names, " "))
	b.WriteString("  case \"${COMP_WORDS[1]}\" in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %s)\n", c.name)
		var flagWords []string
		var file, dir, other []string
		for _, f := range c.flags {
			flagWords = append(flagWords, "--"+f.name)
			opts := []string{"--" + f.name}
			if f.alias != "" {
				flagWords = append(flagWords, "-"+f.alias)
				opts = append(opts, "-"+f.alias)
			}
			switch {
			case len(f.choices) > 0:
				fmt.Fprintf(&b, "    case \"$prev\" in %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;; esac\n",
					strings.Join(opts, "|"), strings.Join(f.choices, " "))
			case f.files:
				file = append(file, opts...)
			case f.dirs:
				dir = append(dir, opts...)
			case f.value:
				other = append(other, opts...)
			}
		}
		if len(file) > 0 {
			fmt.Fprintf(&b, "    case \"$prev\" in %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;; esac\n", strings.Join(file, "|"))
		}
		if len(dir) > 0 {
			fmt.Fprintf(&b, "    case \"$prev\" in %s) COMPREPLY=($(compgen -d -- \"$cur\")); return ;; esac\n", strings.Join(dir, "|"))
		}
		if len(other) > 0 {
			// A value nothing can guess: offer nothing rather than flags.
			fmt.Fprintf(&b, "    case \"$prev\" in %s) return ;; esac\n", strings.Join(other, "|"))
		}
		if len(flagWords) > 0 {
			fmt.Fprintf(&b, "    if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(flagWords, " "))
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, "    if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); fi\n", strings.Join(c.words, " "))
		}
		if c.files {
			b.WriteString("    COMPREPLY=($(compgen -f -- \"$cur\"))\n")
		}
		b.WriteString("    ;;\n")
	}
	b.WriteString("  esac\n}\ncomplete -o filenames -F _dds dds\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote escapes s for a description inside an _arguments spec in
// single quotes.
func zshQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
	return strings.ReplaceAll(s, "'", `'\''`)
}

func writeZshCompletion(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString("#compdef dds\n")
	b.WriteString("# zsh completion for dds: save as _dds in a directory of $fpath, or\n")
	b.WriteString("# source <(dds completion zsh) after compinit\n\n")
	b.WriteString("_dds() {\n  local -a commands\n  commands=(\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    '%s:%s'\n", c.name, zshQuote(c.summary))
	}
	b.WriteString("  )\n  if (( CURRENT == 2 )); then\n    _describe -t commands 'dds command' commands\n    return\n  fi\n")
	b.WriteString("  local cmd=${words[2]}\n  shift words\n  (( CURRENT-- ))\n  case $cmd in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %s)\n    _arguments -s", c.name)
		for _, f := range c.flags {
			desc := "[" + zshQuote(shortUsage(f.usage)) + "]"
			arg := ""
			if f.value {
				action := " "
				switch {
				case len(f.choices) > 0:
					action = "(" + strings.Join(f.choices, " ") + ")"
				case f.files:
					action = "_files"
				case f.dirs:
					action = "_files -/"
				}
				arg = ":" + strings.ToLower(f.name) + ":" + action
			}
			star := ""
			if f.repeat {
				star = "*"
			}
			if f.alias != "" {
				fmt.Fprintf(&b, " \\\n      '(-%s --%s)'{-%s,--%s}'%s%s'", f.alias, f.name, f.alias, f.name, desc, arg)
			} else {
				fmt.Fprintf(&b, " \\\n      '%s--%s%s%s'", star, f.name, desc, arg)
			}
		}
		switch {
		case len(c.words) > 0:
			fmt.Fprintf(&b, " \\\n      '1:argument:(%s)'", strings.Join(c.words, " "))
		case c.files:
			b.WriteString(" \\\n      '*:file:_files'")
		}
		b.WriteString("\n    ;;\n")
	}
	b.WriteString("  esac\n}\n\n")
	b.WriteString("if [ \"$funcstack[1]\" = \"_dds\" ]; then\n  _dds \"$@\"\nelse\n  compdef _dds dds\nfi\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fishQuote quotes s as a fish single-quoted string.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFishCompletion(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString("# fish completion for dds: dds completion fish > ~/.config/fish/completions/dds.fish\n")
	b.WriteString("complete -c dds -f\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c dds -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range cmds {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range c.flags {
			fmt.Fprintf(&b, "complete -c dds -n %s", cond)
			if f.alias != "" {
				fmt.Fprintf(&b, " -s %s", f.alias)
			}
			fmt.Fprintf(&b, " -l %s", f.name)
			switch {
			case len(f.choices) > 0:
				fmt.Fprintf(&b, " -x -a %s", fishQuote(strings.Join(f.choices, " ")))
			case f.files:
				b.WriteString(" -r -F")
			case f.dirs:
				b.WriteString(" -x -a '(__fish_complete_directories)'")
			case f.value:
				b.WriteString(" -x")
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(shortUsage(f.usage)))
		}
		if len(c.words) > 0 {
			fmt.Fprintf(&b, "complete -c dds -n %s -a %s\n", cond, fishQuote(strings.Join(c.words, " ")))
		}
		if c.files {
			fmt.Fprintf(&b, "complete -c dds -n %s -F\n", cond)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
