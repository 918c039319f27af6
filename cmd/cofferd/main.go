// Command cofferd is the coffer server and its operator tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "cofferd:", err)
		}
		os.Exit(1)
	}
}

// exitCode ends the program with a code and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// run is the whole program; tests call it with their own arguments. Help
// asked for is not an error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// dispatch finds the command in args and runs it. A group of commands
// ("admin issuer") prints its command list.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			printGroupUsage(stdout, "")
			return nil
		case "-version", "--version":
			return runVersion(ctx, args[1:], stdout, stderr)
		case "help":
			if len(args) == 1 {
				printGroupUsage(stdout, "")
				return nil
			}
			if isHelpFlag(args[1]) {
				printCommandUsage(stdout, flag.NewFlagSet("cofferd help", flag.ContinueOnError))
				return nil
			}
			return dispatch(ctx, append(append([]string{}, args[1:]...), "--help"), stdout, stderr)
		}
	}
	// The command is the longest run of leading words that names one.
	path, n := "", 0
	for i, w := range args {
		next := strings.TrimSpace(path + " " + w)
		if strings.HasPrefix(w, "-") || (findCmd(next) == nil && !isGroup(next)) {
			break
		}
		path, n = next, i+1
		if findCmd(path) != nil {
			break
		}
	}
	if findCmd(path) == nil {
		name := strings.TrimSpace("cofferd " + path)
		switch {
		case n < len(args) && !strings.HasPrefix(args[n], "-"):
			fmt.Fprintf(stderr, "%s: unknown command %q\n\n", name, args[n])
		case n < len(args) && isHelpFlag(args[n]):
			printGroupUsage(stdout, path)
			return nil
		}
		printGroupUsage(stderr, path)
		return exitCode(2)
	}
	rest := args[n:]
	switch first, _, _ := strings.Cut(path, " "); first {
	case "serve":
		return runServe(ctx, rest, stdout, stderr, nil)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, stdout, stderr) // see backup.go
	case "restore":
		return runRestore(ctx, rest, stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version":
		return runVersion(ctx, rest, stdout, stderr)
	case "completion":
		return runCompletion(ctx, rest, stdout, stderr)
	}
	return fmt.Errorf("command %q has no runner", path)
}
