package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ddsnet/dds/api"
)

// flagSet is a command's flags. Every flag also reads from the environment
// (--http-addr: DDS_HTTP_ADDR) and from the TOML file of --config (key
// http-addr); flags win over the environment, the environment over the file,
// the file over the defaults.
type flagSet struct {
	cmd    string
	fs     *flag.FlagSet
	defs   []*flagDef
	config string
	setErr error // the first value error of the command line, named
}

// flagDef is one flag's description.
type flagDef struct {
	name        string
	alias       string // a one-letter alias ("o"), command line only
	placeholder string
	usage       string
	def         string // default, as shown in help
	value       flag.Value
	list        bool
}

func newFlagSet(cmd string) *flagSet {
	f := &flagSet{cmd: cmd, fs: flag.NewFlagSet(cmd, flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.Usage = func() {}
	f.Var(stringValue{&f.config}, "config", "FILE", "", "TOML file of settings, keys named like the flags")
	return f
}

// envName is the environment variable of a flag: data-dir -> DDS_DATA_DIR.
func envName(flagName string) string {
	return "DDS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// namedValue records the first failed Set with the flag's name.
type namedValue struct {
	flag.Value
	f    *flagSet
	name string
}

func (v namedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		if v.f.setErr == nil {
			v.f.setErr = fmt.Errorf("--%s: %w", v.name, err)
		}
		return err
	}
	return nil
}

type namedBool struct{ namedValue }

func (namedBool) IsBoolFlag() bool { return true }

// Var defines a flag with value v.
func (f *flagSet) Var(v flag.Value, name, placeholder, def, usage string) *flagDef {
	d := &flagDef{name: name, placeholder: placeholder, usage: usage, def: def, value: v}
	_, d.list = v.(*listValue)
	nv := namedValue{Value: v, f: f, name: name}
	if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		f.fs.Var(namedBool{nv}, name, usage)
	} else {
		f.fs.Var(nv, name, usage)
	}
	f.defs = append(f.defs, d)
	return d
}

// Alias adds a one-letter command-line alias to the flag d.
func (f *flagSet) Alias(d *flagDef, alias string) {
	d.alias = alias
	f.fs.Var(namedValue{Value: d.value, f: f, name: d.name}, alias, d.usage)
}

func (f *flagSet) String(p *string, name, def, placeholder, usage string) *flagDef {
	*p = def
	return f.Var(stringValue{p}, name, placeholder, def, usage)
}

func (f *flagSet) Bool(p *bool, name, usage string) *flagDef {
	return f.Var(boolValue{p}, name, "", "false", usage)
}

func (f *flagSet) Int(p *int, name string, def, min int, usage string) *flagDef {
	*p = def
	return f.Var(intValue{p, min}, name, "N", strconv.Itoa(def), usage)
}

func (f *flagSet) Size(p *int64, name, def, usage string) *flagDef {
	n, err := parseSize(def)
	if err != nil {
		panic(err)
	}
	*p = n
	return f.Var(sizeValue{p}, name, "SIZE", def, usage)
}

func (f *flagSet) Seconds(p *int64, name string, def int64, usage string) *flagDef {
	*p = def
	shown := "none"
	if def > 0 {
		shown = (time.Duration(def) * time.Second).String()
	}
	return f.Var(secondsValue{p}, name, "DURATION", shown, usage)
}

func (f *flagSet) Duration(p *time.Duration, name string, def time.Duration, usage string) *flagDef {
	*p = def
	return f.Var(durationValue{p}, name, "DURATION", def.String(), usage)
}

func (f *flagSet) List(p *[]string, name string, def []string, placeholder, usage string) *flagDef {
	*p = def
	shown := strings.Join(def, ",")
	if shown == "" {
		shown = "none"
	}
	return f.Var(&listValue{p: p}, name, placeholder, shown, usage+" (repeatable)")
}

func (f *flagSet) Tokens(p *api.Tokens, set *bool, name, usage string) *flagDef {
	return f.Var(tokensValue{p, set}, name, "AMOUNT", "none", usage)
}

func (f *flagSet) Date(p *string, name, usage string) *flagDef {
	return f.Var(dateValue{p}, name, "YYYYMMDD", "none", usage)
}

func (f *flagSet) Choice(p *string, name, def string, choices []string, usage string) *flagDef {
	*p = def
	return f.Var(choiceValue{p, choices}, name, strings.Join(choices, "|"), def, usage)
}

// errHelp asks for the command's help.
var errHelp = errors.New("help requested")

// usageError is a mistake in the command line, environment or config file
// (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// parse reads the command line args (flags may follow positional
// arguments; "--" ends the flags), then the environment, then the config
// file, and returns the positional arguments. getenv reads the environment;
// known tells whether a config key is a flag of some dds command.
func (f *flagSet) parse(args []string, getenv func(string) string, known func(string) bool) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			if f.setErr != nil {
				return nil, &usageError{f.setErr}
			}
			msg := err.Error()
			if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
				return nil, usagef("unknown flag --%s (see dds %s --help)", strings.TrimLeft(name, "-"), f.cmd)
			}
			return nil, usagef("%s", msg)
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}

	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, d := range f.defs {
		if d.alias != "" && set[d.alias] {
			set[d.name] = true
		}
	}
	for _, d := range f.defs {
		if set[d.name] {
			continue
		}
		env := envName(d.name)
		v := getenv(env)
		if v == "" {
			continue
		}
		vals := []string{v}
		if d.list {
			vals = strings.Split(v, ",")
		}
		for _, s := range vals {
			if err := d.value.Set(s); err != nil {
				return nil, usagef("%s: %w", env, err)
			}
		}
		set[d.name] = true
	}
	if f.config != "" {
		if err := f.applyConfig(f.config, set, known); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// applyConfig sets the flags not set yet from the TOML file at path.
func (f *flagSet) applyConfig(path string, set map[string]bool, known func(string) bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("--config: %w", err)
	}
	var m map[string]any
	if _, err := toml.Decode(string(b), &m); err != nil {
		return usagef("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byName := map[string]*flagDef{}
	for _, d := range f.defs {
		byName[d.name] = d
	}
	for _, k := range keys {
		d := byName[k]
		if k == "config" || (d == nil && !known(k)) {
			return usagef("config %s: unknown key %q", path, k)
		}
		if d == nil || set[k] {
			continue // another command's setting, or given by flag or env
		}
		vals, err := tomlStrings(m[k], d.list)
		if err == nil {
			for _, s := range vals {
				if err = d.value.Set(s); err != nil {
					break
				}
			}
		}
		if err != nil {
			return usagef("config %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// tomlStrings turns a TOML value into the strings a flag would be given.
func tomlStrings(v any, list bool) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		if !list {
			return nil, errors.New("a list where one value is expected")
		}
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := tomlStrings(e, false)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// help writes the command's flags with their environment names and
// defaults.
func (f *flagSet) help(w io.Writer) {
	fmt.Fprintln(w, "Flags:")
	for _, d := range f.defs {
		name := "--" + d.name
		if d.alias != "" {
			name = "-" + d.alias + ", " + name
		}
		if d.placeholder != "" {
			name += " " + d.placeholder
		}
		fmt.Fprintf(w, "  %s\n        %s (env %s", name, d.usage, envName(d.name))
		if d.def != "" {
			fmt.Fprintf(w, ", default %s", d.def)
		}
		fmt.Fprintln(w, ")")
	}
}
