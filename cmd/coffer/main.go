// Command coffer is the keeper: a member's command-line client for a coffer
// server. It registers member IDs, logs in and keeps the sessions, shows
// purses and their history, and sends money.
//
// Run "coffer help" for the commands.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-money/coffer/client"
)

// defaultServer is used when neither --server, COFFER_SERVER nor a saved
// session names one: where "cofferd serve" listens by default.
const defaultServer = "http://127.0.0.1:8080"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(report(err, os.Stderr))
}

// app is one invocation of the keeper: its streams, environment and the
// global flags.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	in     *bufio.Reader // stdin, buffered once so several prompts share it
	stdout io.Writer
	stderr io.Writer
	env    func(string) string
	now    func() time.Time

	server    string // --server or COFFER_SERVER; "" means not chosen
	as        string // --as or COFFER_MEMBER
	json      bool
	configDir string

	// Client certificate and server CA (see cert.go).
	certFile, certKeyFile, caFile string

	keys keyOpts // --key, --passphrase-fd and key file settings (see keys.go)

	// clientOpts are added to every client's options; tests shorten the
	// retry waits with them.
	clientOpts []client.Option

	// capture, when set, receives the flag set of the command being run,
	// which then stops: the completion learns the real flags so.
	capture func(*flag.FlagSet)
}

// run executes the keeper with args (without the program name). It returns
// a *usageError for bad usage and nil after printing help.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) error {
	return newApp(ctx, stdin, stdout, stderr, env).main(args)
}

// newApp sets up one invocation with its streams and environment.
func newApp(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *app {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if env == nil {
		env = func(string) string { return "" }
	}
	return &app{
		ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now,
		server: env("COFFER_SERVER"), as: env("COFFER_MEMBER"), configDir: env("COFFER_CONFIG"),
		certFile: env("COFFER_CERT"), certKeyFile: env("COFFER_CERT_KEY"), caFile: env("COFFER_CA"),
	}
}

// main parses the global flags and runs the command.
func (a *app) main(args []string) error {
	fs := flag.NewFlagSet("coffer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	version := versionFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(a.stdout)
			return nil
		}
		return usagef("%v", err)
	}
	if *version {
		return cmdVersion(a, fs.Args())
	}
	if fs.NArg() == 0 {
		printUsage(a.stderr)
		return &usageError{msg: "no command given", shown: true}
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	cmd := findCommand(name)
	if cmd == nil {
		return usagef("unknown command %q", name)
	}
	err := cmd.run(a, rest)
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// globalFlags defines the flags every command accepts, before or after
// the command's name. Each default is the flag's current value, so a flag
// given before the command survives a command's own flag set.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.server, "server", a.server, "server `URL` (env COFFER_SERVER; default: the saved session's server, else "+defaultServer+")")
	fs.StringVar(&a.as, "as", a.as, "act as the saved `MEMBER_ID` (env COFFER_MEMBER; default: the last one logged in)")
	fs.BoolVar(&a.json, "json", a.json, "print the server's JSON instead of text")
	fs.StringVar(&a.configDir, "config", a.configDir, "keep sessions in `DIR` (env COFFER_CONFIG; default: the user config dir + /coffer)")
	a.certFlags(fs) // --cert, --cert-key, --ca; see cert.go
	a.keyFlags(fs)  // --key, --passphrase-fd; see keys.go
}

// store returns the session store in the chosen config directory.
func (a *app) store() (*store, error) {
	dir := a.configDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("cannot find a config directory (set --config or COFFER_CONFIG): %w", err)
		}
		dir = filepath.Join(base, "coffer")
	}
	return &store{dir: dir, warn: a.stderr}, nil
}

// saved returns the session store, its contents, and the saved member to
// act as (--as, else the default). It fails with a sentence when none is
// saved.
func (a *app) saved() (*store, *config, *credentials, error) {
	st, err := a.store()
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := st.load()
	if err != nil {
		return nil, nil, nil, err
	}
	cr, err := cfg.pick(a.as)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, cfg, cr, nil
}

// userAgent names the keeper and its version in every request.
func userAgent() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "coffer-keeper/" + v
}

// errFlagsCaptured stops a command whose flag set app.capture took.
var errFlagsCaptured = errors.New("flags captured")

// newClient returns a client for server, with token when not empty.
func (a *app) newClient(server, token string) (*client.Client, error) {
	if _, err := client.ParseServerURL(server); err != nil {
		return nil, usagef("%v", err)
	}
	opts := append([]client.Option{client.WithToken(token), client.WithUserAgent(userAgent())}, a.clientOpts...)
	tlsOpts, err := a.tlsOptions() // see cert.go
	if err != nil {
		return nil, err
	}
	return client.New(server, append(opts, tlsOpts...)...), nil
}

// serverFor picks the server: the one asked for, else the saved session's,
// else the default.
func (a *app) serverFor(c *credentials) string {
	switch {
	case a.server != "":
		return a.server
	case c != nil && c.Server != "":
		return c.Server
	}
	return defaultServer
}

// session returns the saved session to act as and a client that sends its
// token. It fails with a sentence when none is saved.
func (a *app) session() (*client.Client, *credentials, error) {
	if a.keyFilePath() != "" {
		return a.keySession() // see keys.go
	}
	if a.certFile != "" || a.certKeyFile != "" {
		return a.certSession() // see cert.go
	}
	_, _, cr, err := a.saved()
	if err != nil {
		return nil, nil, err
	}
	// The saved expiry is not checked here: the server extends a session
	// while it is used, so only the server knows whether it still holds.
	c, err := a.newClient(a.serverFor(cr), cr.Token)
	if err != nil {
		return nil, nil, err
	}
	return c, cr, nil
}

// optionalSession is session for commands that also work without logging
// in: it falls back to an anonymous client.
func (a *app) optionalSession() (*client.Client, error) {
	c, _, err := a.session()
	if err == nil {
		return c, nil
	}
	var ue *usageError
	if errors.As(err, &ue) || a.as != "" {
		return nil, err
	}
	return a.newClient(a.serverFor(nil), "")
}

// usageError is bad usage of the keeper; it exits with status 2.
type usageError struct {
	msg   string
	cmd   string // the command whose usage applies, "" for the keeper's
	shown bool   // the usage text was already printed
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelpShown stops a command after "-h" printed its usage.
var errHelpShown = errors.New("help shown")

// report prints err for a person and returns the exit status: 0 for nil,
// 2 for bad usage, 1 for anything else.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "coffer: %s\n", ue.msg)
		if !ue.shown {
			if ue.cmd != "" {
				fmt.Fprintf(stderr, "Run 'coffer %s -h' for usage.\n", ue.cmd)
			} else {
				fmt.Fprintln(stderr, "Run 'coffer help' for usage.")
			}
		}
		return 2
	}
	fmt.Fprintf(stderr, "coffer: %s\n", err)
	return 1
}
