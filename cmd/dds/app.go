package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/term"

	"github.com/ddsnet/dds/api"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
)

// version is the binary's version; set with -ldflags "-X main.version=v1.2.3",
// else taken from the build info.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return node.Version
}

// app is one run of the command: its streams and environment.
type app struct {
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
	terminal bool // stderr is a terminal: show progress
	// stdoutTerminal: stdout is a terminal, where dds get writes no
	// binary unless told to.
	stdoutTerminal bool
	version        string
	// clientOptions are added to every client (tests shorten the poll).
	clientOptions []client.Option
}

func newApp() *app {
	return &app{
		stdin:          os.Stdin,
		stdout:         os.Stdout,
		stderr:         os.Stderr,
		getenv:         os.Getenv,
		terminal:       term.IsTerminal(int(os.Stderr.Fd())),
		stdoutTerminal: term.IsTerminal(int(os.Stdout.Fd())),
		version:        buildVersion(),
	}
}

// runner runs a command once its flags are parsed; args are the
// positional arguments.
type runner func(ctx context.Context, a *app, args []string) error

// command is one subcommand: define declares its flags on fs and returns
// what runs it.
type command struct {
	name    string
	args    string // positional arguments, for help
	summary string
	define  func(fs *flagSet) runner
}

func commands() []command {
	return []command{
		{"daemon", "", "run a node until SIGINT/SIGTERM", daemonCommand},
		{"testnet", "", "run a local network of --nodes daemons until SIGINT/SIGTERM", testnetCommand},
		{"put", "FILE", "upload FILE (\"-\": stdin); with --pay, pay and wait until it is stored", putCommand},
		{"get", "ID", "download a file to -o FILE or stdout", getCommand},
		{"info", "ID", "show a file", infoCommand},
		{"ls", "", "list the account's files, page by page (--api-key needed)", lsCommand},
		{"rm", "ID", "delete one of the account's files: its lease ends now (--api-key needed)", rmCommand},
		{"account", "create NAME | show [ID] | credit ID", "open an account (billing token), show one, or credit its balance (billing token)", accountCommand},
		{"s3-key", "create", "make an S3 access key for the account (--api-key) on the node's S3 gateway", s3KeyCommand},
		{"extend", "ID", "ask for a longer term and show its price", extendCommand},
		{"pay", "ID", "post a payment for the file's open quote (billing token needed)", payCommand},
		{"status", "", "show the node's status and info", statusCommand},
		{"peers", "", "show the network's members as the node sees them: role, reachable or not, ledger index, space (--events: and what happened)", peersCommand},
		{"local-payments", "", "show what is due to the node for a range of days", localPaymentsCommand},
		{"invite", "PEER_ID", "print an invite that admits the node PEER_ID to the network (admission key needed)", inviteCommand},
		{"member", "remove PEER_ID", "remove the member PEER_ID from the network (admission key needed)", memberCommand},
		{"processor-key", "FILE", "make the payment processor's key in FILE unless it exists, and print its public key", processorKeyCommand},
		{"identity", "", "make the node's identity key in --data-dir unless it exists, and print its peer id (for dds invite before the node first starts)", identityCommand},
		{"completion", "bash|zsh|fish", "print the shell completion script", completionCommand},
		{"version", "", "print the version, the commit and the Go version", versionCommand},
	}
}

// knownKey reports whether name is a flag of some command (a config file
// may hold the settings of several commands).
func knownKey(name string) bool {
	for _, c := range commands() {
		fs := newFlagSet(c.name)
		c.define(fs)
		for _, d := range fs.defs {
			if d.name == name {
				return true
			}
		}
	}
	return false
}

// run runs the command line args (without the program name) and returns
// the exit status: 0, 1 for failures, 2 for usage errors.
func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.usage(a.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			return a.run(ctx, []string{args[1], "--help"})
		}
		a.usage(a.stdout)
		return 0
	case "--version":
		name, args = "version", append([]string{"version"}, args[1:]...)
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "dds: unknown command %q (see dds help)\n", name)
		return 2
	}
	fs := newFlagSet(cmd.name)
	run := cmd.define(fs)
	pos, err := fs.parse(args[1:], a.getenv, knownKey)
	if errors.Is(err, errHelp) {
		a.commandHelp(a.stdout, cmd, fs)
		return 0
	}
	if err == nil {
		err = run(ctx, a, pos)
	}
	return a.report(err)
}

// report prints err and returns the exit status it means.
func (a *app) report(err error) int {
	if err == nil {
		return 0
	}
	var apiErr *client.Error
	var usage *usageError
	var down *unreachableError
	var h *hintError
	code := 1
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "dds: %v\n", err)
		code = 2
	case errors.As(err, &apiErr):
		for _, e := range apiErr.Errors {
			fmt.Fprintf(a.stderr, "dds: %s\n", formatAPIError(e))
		}
	case asUnreachable(err, &down):
		fmt.Fprintf(a.stderr, "dds: the node at %s is not reachable (%v)\n", down.node, down.err)
		fmt.Fprintf(a.stderr, "dds: is it running? Another node: --node URL or %s=URL\n", envName("node"))
	default:
		fmt.Fprintf(a.stderr, "dds: %v\n", err)
	}
	if errors.As(err, &h) {
		fmt.Fprintf(a.stderr, "dds: %s\n", h.hint)
	}
	return code
}

// hintError adds what the user can do next to an error; report prints it
// on a line of its own after the error, however the error is printed.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// unreachableError is a node that could not be dialled.
type unreachableError struct {
	node string // scheme://host of the node
	err  error  // why: "connection refused", a DNS failure
}

// asUnreachable reports whether err is a failure to connect to the node
// (not one in the middle of an answer), as unreachableError: the raw
// "dial tcp 127.0.0.1:7070: connect: connection refused" names neither the
// node nor what to do.
func asUnreachable(err error, target **unreachableError) bool {
	var ue *url.Error
	var oe *net.OpError
	if !errors.As(err, &ue) || !errors.As(err, &oe) || oe.Op != "dial" {
		return false
	}
	node := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		node = u.Scheme + "://" + u.Host
	}
	why := oe.Err
	var se *os.SyscallError
	if errors.As(why, &se) {
		why = se.Err
	}
	*target = &unreachableError{node: node, err: why}
	return true
}

// formatAPIError writes an error object as "code: detail (at pointer)".
func formatAPIError(e api.Error) string {
	s := e.Code
	switch {
	case e.Detail != "":
		s += ": " + e.Detail
	case e.Title != "":
		s += ": " + e.Title
	}
	if src := e.Source; src != nil {
		switch {
		case src.Pointer != "":
			s += " (at " + src.Pointer + ")"
		case src.Parameter != "":
			s += " (at parameter " + src.Parameter + ")"
		case src.Header != "":
			s += " (at header " + src.Header + ")"
		}
	}
	return s
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `dds: a peer-to-peer storage network with paid, agreed storage

Usage: dds COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help [COMMAND]  this text, or a command's flags

Every flag also reads from the environment (--http-addr: DDS_HTTP_ADDR) and
from the TOML file of --config (http-addr = "..."); flags win over the
environment, the environment over the file. "dds COMMAND --help" lists a
command's flags.
`)
}

func (a *app) commandHelp(w io.Writer, c *command, fs *flagSet) {
	line := "dds " + c.name
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s [FLAGS]\n\n%s%s.\n\n", line, strings.ToUpper(c.summary[:1]), c.summary[1:])
	fs.help(w)
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, names ...string) error {
	switch {
	case len(args) < len(names):
		return usagef("missing %s", names[len(args)])
	case len(args) > len(names):
		return usagef("unexpected argument %q", args[len(names)])
	}
	return nil
}
