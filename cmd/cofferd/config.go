package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/peterbourgon/ff/v3"
)

// envPrefix names the environment variables that stand for flags:
// --db-timeout is COFFER_DB_TIMEOUT.
const envPrefix = "COFFER"

// configFlag names the config file flag every command takes. It is read
// from the command line only: COFFER_CONFIG is the keeper's session
// directory.
const configFlag = "config"

// envName is the environment variable that stands for flag name.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_", "/", "_").Replace(name))
}

// Where a flag's value came from, in order of precedence.
const (
	fromFlag    = "flag"
	fromEnv     = "env"
	fromFile    = "file"
	fromDefault = "default"
)

// flagSources says, after parseFlags, where each flag's value came from,
// and which config file was read ("" for none).
type flagSources struct {
	file string
	from map[string]string
}

// parseFlags parses a command's flags: the command line first, then, for
// the flags not given there, COFFER_* environment variables, then the file
// named by --config, then the defaults. A flag registered on fs by anyone
// takes part without further work.
//
// For serve, config and bench every flag does (see settingsCommand). For
// the one-off commands, only the flags they share with serve (--data,
// --db, ...) may come from the environment or the file; an action's own
// arguments (--member, --cert, --to) are taken from the command line only,
// so that the keeper's COFFER_MEMBER or COFFER_CERT never reach them. A
// key in the file that is neither a flag of the command nor a serve flag
// is an error, so that a misspelt setting is not ignored.
//
// -h and --help print the command's usage to stdout and return
// flag.ErrHelp, which run turns into exit status 0.
func parseFlags(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) (*flagSources, error) {
	if fs.Lookup(configFlag) == nil {
		fs.String(configFlag, "", "read settings from `FILE`: one \"flag value\" per line, # starts a comment (see cofferd config --help)")
	}
	if err := parseArgs(ctx, fs, args, stdout); err != nil {
		return nil, err
	}
	file := fs.Lookup(configFlag).Value.String()
	src := &flagSources{file: file, from: map[string]string{}}
	fs.Visit(func(f *flag.Flag) { src.from[f.Name] = fromFlag })

	shared := serveFlagNames()
	settable := func(name string) bool {
		if name == configFlag {
			return false
		}
		return settingsCommand(fs) || shared[name]
	}
	if file != "" {
		if err := checkConfigKeys(fs, file, settable, shared); err != nil {
			return nil, err
		}
	}
	// The rest: the settable flags not given on the command line, sharing
	// their values with fs.
	rest := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	rest.SetOutput(io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		if src.from[f.Name] == "" && settable(f.Name) {
			rest.Var(f.Value, f.Name, f.Usage)
		}
	})
	opts := []ff.Option{ff.WithEnvVarPrefix(envPrefix), ff.WithIgnoreUndefined(true)}
	if file != "" {
		opts = append(opts, ff.WithConfigFile(file), ff.WithConfigFileParser(ff.PlainParser))
	}
	if err := ff.Parse(rest, []string{}, opts...); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(fs.Name(), "cofferd "), err)
	}
	rest.VisitAll(func(f *flag.Flag) {
		if os.Getenv(envName(f.Name)) != "" {
			src.from[f.Name] = fromEnv
		}
	})
	rest.Visit(func(f *flag.Flag) {
		if src.from[f.Name] == "" {
			src.from[f.Name] = fromFile
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if src.from[f.Name] == "" {
			src.from[f.Name] = fromDefault
		}
	})
	return src, nil
}

// checkConfigKeys reads the keys of the config file and refuses one that
// is no flag of the command nor of serve, or that is an action's argument.
func checkConfigKeys(fs *flag.FlagSet, file string, settable func(string) bool, shared map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	return ff.PlainParser(f, func(name, _ string) error {
		switch {
		case name == configFlag:
			return fmt.Errorf("config file %s: %q cannot be set in a config file", file, name)
		case fs.Lookup(name) != nil && !settable(name):
			return fmt.Errorf("config file %s: --%s of %s is taken from the command line only", file, name, fs.Name())
		case fs.Lookup(name) == nil && !shared[name]:
			return fmt.Errorf("config file %s: unknown setting %q: it is no flag of cofferd serve (see cofferd serve --help)", file, name)
		}
		return nil
	})
}

// settingsCommand reports whether every flag of the command whose flag set
// is fs is a setting, to be taken from the environment or the file too:
// the server's, and those of the commands that run one.
func settingsCommand(fs *flag.FlagSet) bool {
	switch fs.Name() {
	case "cofferd serve", "cofferd config", "cofferd bench":
		return true
	}
	return false
}

// serveFlagNames returns the names of serve's flags.
func serveFlagNames() map[string]bool {
	fs := flag.NewFlagSet("cofferd serve", flag.ContinueOnError)
	var o serveOptions
	o.flags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// runConfig prints the settings serve would run with and where each came
// from, with secrets masked.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cofferd config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serveOptions
	o.flags(fs)
	src, err := parseFlags(ctx, fs, args, stdout)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	printConfig(stdout, fs, src)
	return nil
}

// printConfig writes one line per flag: name, masked value, source.
func printConfig(w io.Writer, fs *flag.FlagSet, src *flagSources) {
	if src.file != "" {
		fmt.Fprintf(w, "# config file: %s\n", src.file)
	} else {
		fmt.Fprintln(w, "# config file: none (--config FILE)")
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFlag || (strings.HasPrefix(f.Name, "test-") && src.from[f.Name] == fromDefault) {
			return
		}
		flags = append(flags, f)
	})
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tVALUE\tFROM")
	for _, f := range flags {
		from := src.from[f.Name]
		if from == fromEnv {
			from += " " + envName(f.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, quoteEmpty(maskSecret(f.Name, f.Value.String())), from)
	}
	tw.Flush()
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// masked replaces a secret in printed settings.
const masked = "REDACTED"

// secretName matches flag names whose value is itself a secret. Flags
// naming a file that holds one (--smtp-password-file) show the path.
var secretName = regexp.MustCompile(`(password|secret|token|passphrase)$`)

// dsnPassword matches the password of a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// maskSecret returns value fit to print: a secret flag's value masked, and
// the password of a URL (postgres://user:pw@host/db) or of a key=value
// connection string replaced.
func maskSecret(name, value string) string {
	if value == "" {
		return value
	}
	if secretName.MatchString(name) {
		return masked
	}
	if strings.Contains(value, "://") {
		u, err := url.Parse(value)
		if err != nil {
			// Unparsable: mask everything between "://" and the last "@".
			if i, j := strings.Index(value, "://"), strings.LastIndex(value, "@"); j > i {
				return value[:i+3] + masked + value[j:]
			}
			return value
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), masked)
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", masked)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return dsnPassword.ReplaceAllString(value, "${1}"+masked)
}
