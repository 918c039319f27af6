package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/coffer-money/coffer/cmd/internal/cli"
)

// cmdInfo describes one command of cofferd for its usage, the command list
// and the shell completion. Its flags are the ones the command registers
// on its flag set; they are not repeated here.
type cmdInfo struct {
	path     string // words after "cofferd": "admin issuer add"
	synopsis string // what follows the path in the usage line
	summary  string // one line for the command list
	help     string // more text for the command's --help, may be empty
}

// commandTable lists every command, in the order the usage shows them. A
// test runs each with --help.
var commandTable = []cmdInfo{
	{"serve", "[flags]", "run the server", ""},
	{"config", "[--config FILE] [serve flags]", "print the settings serve would run with, where each came from, secrets masked", configHelp},
	{"check", "[--data DIR] [--full]", "verify the ledger invariants", ""},
	{"backup", "--to DIR [--data DIR]", "consistent copy of a running SQLite store and its key files (secrets.key, documents.key, ca/), checked", ""},
	{"restore", "--from DIR [--data DIR] [--force]", "put a backup in place (stop the server first), checked", ""},
	{"admin currency add", "--code C --letter L --decimals N", "add a currency", ""},
	{"admin currency list", "", "list the currencies", ""},
	{"admin issuer add", "--member ID --currency C --limit AMOUNT", "make a member an issuer of a currency (the member's level must allow issuing)", ""},
	{"admin registrar add", "--member ID", "let a member review verification requests", ""},
	{"admin registrar remove", "--member ID", "take the registrar role from a member", ""},
	{"admin registrar list", "", "list the registrars", ""},
	{"admin member show", "--member ID", "a member's level, roles, restrictions and profile", ""},
	{"admin member level", "--member ID --level L --reason R", "set a member's verification level", ""},
	{"admin fee set", "--currency C --percent P [--min A] [--max A] --purse P", "charge senders a fee, paid into the operator's purse", ""},
	{"admin fee list", "", "list the fees", ""},
	{"admin fee remove", "--currency C", "remove a currency's fee", ""},
	{"admin oidc-client add", "--name N --redirect-uri U [--public]", `register a site for "Sign in with coffer"`, ""},
	{"admin oidc-client list", "", "list the registered sites", ""},
	{"admin oidc-client remove", "--client-id ID", "remove a registered site", ""},
	{"admin oidc-key rotate", "", "make a new OpenID Connect signing key", ""},
	{"admin ca init", "[--cert FILE --key FILE] [--key-type ecdsa-p256|ed25519] [--name CN] [--validity D]", "make (or import) the CA for members' certificates", caHelp},
	{"admin ca server-cert", "--host H [--host H…] --out-cert FILE --out-key FILE [--validity D]", "issue a server certificate from the CA", ""},
	{"bench", "[flags]", "load generator for the transfer path", benchHelp},
	{"version", "", "print the version, from the build information", ""},
	{"completion", "bash|zsh|fish", "print a shell completion script", completionHelp},
	{"help", "[COMMAND...]", "show the usage of cofferd or of a command", ""},
}

const caHelp = `The CA lives in DATA/ca: ca.crt (the certificate) and ca.key (its private key,
mode 0600, unencrypted so that cofferd serve can sign with it). init never
overwrites an existing CA.`

const configHelp = `Each serve flag may also be set by an environment variable, COFFER_ and the
flag's name in upper case with - as _ (--db-timeout: COFFER_DB_TIMEOUT), or in
the file named by --config, one "flag value" per line. A flag on the command
line wins over the environment, which wins over the file, which wins over the
default. Passwords, secrets, tokens and the password in a database URL are
masked.`

const completionHelp = `Load it in the running shell with:
  bash:  source <(cofferd completion bash)
  zsh:   source <(cofferd completion zsh)
  fish:  cofferd completion fish | source`

// findCmd returns the command at path, or nil.
func findCmd(path string) *cmdInfo {
	for i := range commandTable {
		if commandTable[i].path == path {
			return &commandTable[i]
		}
	}
	return nil
}

// isGroup reports whether path ("" for cofferd itself) has subcommands.
func isGroup(path string) bool {
	for _, c := range commandTable {
		if path == "" || strings.HasPrefix(c.path, path+" ") {
			return true
		}
	}
	return false
}

// children returns the next words after path, in table order, each with
// the summary of its command (empty for a group).
func children(path string) (words, summaries []string) {
	seen := map[string]bool{}
	for _, c := range commandTable {
		rest, ok := c.path, path == ""
		if !ok {
			rest, ok = strings.CutPrefix(c.path, path+" ")
		}
		if !ok {
			continue
		}
		w, _, sub := strings.Cut(rest, " ")
		if seen[w] {
			continue
		}
		seen[w] = true
		words = append(words, w)
		if sub {
			summaries = append(summaries, "")
		} else {
			summaries = append(summaries, c.summary)
		}
	}
	return words, summaries
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// usageFooter ends the usage of cofferd and of its groups.
const usageFooter = `Every command that opens the store takes --data DIR (default ./coffer-data)
and --db URL (default $COFFER_DB); admin commands work on a running server too.
Flags may also be set by COFFER_* environment variables or a --config file;
see 'cofferd config --help'.
`

// printGroupUsage writes the usage of cofferd (path "") or of a group of
// commands to w.
func printGroupUsage(w io.Writer, path string) {
	name := strings.TrimSpace("cofferd " + path)
	if path == "" {
		fmt.Fprint(w, "cofferd — the coffer server and operator tools\n\n")
	}
	fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n\nCommands:\n", name)
	for _, c := range commandTable {
		rest, ok := c.path, path == ""
		if !ok {
			rest, ok = strings.CutPrefix(c.path, path+" ")
		}
		if ok {
			fmt.Fprintf(w, "  %-26s %s\n", rest, c.summary)
		}
	}
	fmt.Fprintf(w, "\n%sRun '%s COMMAND --help' for a command's flags; '%s --version' prints the version.\n", usageFooter, name, "cofferd")
}

// printCommandUsage writes the usage of the command whose flag set is fs,
// with its flags (those named test-* left out), to w.
func printCommandUsage(w io.Writer, fs *flag.FlagSet) {
	path := strings.TrimPrefix(fs.Name(), "cofferd ")
	c := findCmd(path)
	if c == nil {
		c = &cmdInfo{path: path}
	}
	fmt.Fprintf(w, "Usage: %s\n", strings.TrimSpace("cofferd "+c.path+" "+c.synopsis))
	if c.summary != "" {
		fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test-") {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	if !hasFlags(shown) {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	shown.SetOutput(w)
	shown.PrintDefaults()
	if fs.Lookup(configFlag) != nil {
		if settingsCommand(fs) {
			fmt.Fprint(w, "\nEvery flag may also be set by COFFER_<FLAG> (--db-timeout: COFFER_DB_TIMEOUT)\nor in the --config file; flag > environment > file > default.\n")
		} else {
			fmt.Fprint(w, "\nThe flags serve also has (--data, --db, ...) may also be set by COFFER_<FLAG>\nor in the --config file; flag > environment > file > default.\n")
		}
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses a command's command line without the environment or a
// config file: -h and --help print the usage to stdout and return
// flag.ErrHelp; a bad flag is a usage error, exit status 2.
func parseArgs(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if c, ok := ctx.Value(flagCaptureKey{}).(*flagCapture); ok {
		c.fs = fs
		return errFlagsCaptured
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, fs)
			return err
		}
		fmt.Fprintf(fs.Output(), "Run '%s --help' for usage.\n", fs.Name())
		return exitCode(2)
	}
	return nil
}

// flagCapture, carried in a context, makes the next parseArgs record its
// flag set and stop the command: that is how the completion learns each
// command's real flags.
type flagCapture struct{ fs *flag.FlagSet }

type flagCaptureKey struct{}

var errFlagsCaptured = errors.New("flags captured")

// commandFlags returns the names of the flags of the command at path,
// sorted, test-* flags left out.
func commandFlags(path string) ([]string, error) {
	c := &flagCapture{}
	ctx := context.WithValue(context.Background(), flagCaptureKey{}, c)
	err := dispatch(ctx, strings.Fields(path), io.Discard, io.Discard)
	if !errors.Is(err, errFlagsCaptured) {
		return nil, fmt.Errorf("cofferd %s parsed no flags: %v", path, err)
	}
	var names []string
	c.fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test-") {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	return names, nil
}

// runVersion prints the version from the build information.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseArgs(ctx, fs, args, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, cli.VersionLine("cofferd"))
	return nil
}

// runCompletion prints a completion script for shell, made from the
// command table and each command's flag set.
func runCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd completion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseArgs(ctx, fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "cofferd completion: name one shell: bash, zsh or fish")
		return exitCode(2)
	}
	tree, err := completionTree()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "bash":
		fmt.Fprint(stdout, cli.Bash("cofferd", tree))
	case "zsh":
		fmt.Fprint(stdout, cli.Zsh("cofferd", tree))
	case "fish":
		fmt.Fprint(stdout, cli.Fish("cofferd", tree))
	default:
		fmt.Fprintf(stderr, "cofferd completion: unknown shell %q (bash, zsh or fish)\n", fs.Arg(0))
		return exitCode(2)
	}
	return nil
}

// completionTree returns, for each command path ("" for cofferd itself),
// what may follow it: subcommands with their summaries, or flags.
func completionTree() ([]cli.Node, error) {
	var nodes []cli.Node
	var groups []string
	seen := map[string]bool{}
	for _, c := range commandTable {
		words := strings.Fields(c.path)
		for i := 0; i < len(words); i++ {
			g := strings.Join(words[:i], " ")
			if !seen[g] {
				seen[g] = true
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		n := cli.Node{Path: g}
		n.Words, n.Summaries = children(g)
		if g == "" {
			n.Flags = []string{"help", "version"}
		}
		nodes = append(nodes, n)
	}
	for _, c := range commandTable {
		n := cli.Node{Path: c.path}
		if c.path == "help" {
			n.Words, n.Summaries = children("")
			nodes = append(nodes, n)
			continue
		}
		flags, err := commandFlags(c.path)
		if err != nil {
			return nil, err
		}
		n.Flags = append(flags, "help")
		if c.path == "completion" {
			n.Words = []string{"bash", "zsh", "fish"}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}
