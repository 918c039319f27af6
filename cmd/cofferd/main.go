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

const usage = `cofferd — the coffer server and operator tools

Usage:
  cofferd serve [--data DIR] [--addr HOST:PORT]      run the server
  cofferd check [--data DIR]                         verify the ledger invariants
  cofferd backup [--data DIR] --to DEST              consistent copy of a running SQLite store and its
                                                     key files (secrets.key, documents.key, ca/), checked
  cofferd restore --from DEST [--data DIR] [--force] put a backup in place (stop the server first), checked
  cofferd admin currency add --code C --letter L --decimals N
  cofferd admin currency list
  cofferd admin issuer add --member ID --currency C --limit AMOUNT
                                                     (the member's level must allow issuing)
  cofferd admin registrar add|remove --member ID     let a member review verification requests
  cofferd admin registrar list
  cofferd admin member show --member ID              level, roles, restrictions, profile
  cofferd admin member level --member ID --level L --reason R
  cofferd admin fee set --currency C --percent P [--min A] [--max A] --purse P
                                                     charge senders a fee, paid into the operator's purse
  cofferd admin fee list
  cofferd admin fee remove --currency C
  cofferd admin oidc-client add --name N --redirect-uri U [--public]
                                                     register a site for "Sign in with coffer"
  cofferd admin oidc-client list|remove [--client-id ID]
  cofferd admin oidc-key rotate                      new OpenID Connect signing key
  cofferd admin ca init [--cert FILE --key FILE]     make (or import) the CA for members' certificates
  cofferd admin ca server-cert --host H --out-cert F --out-key F
  cofferd serve --tls-cert F --tls-key F [--tls-client-ca F] [--tls-addr HOST:PORT]
                                                     add an HTTPS listener that accepts client certificates
  cofferd bench [flags]                              load generator (see cofferd bench -h)

Every command takes --data DIR (default ./coffer-data); admin commands work
on a running server too.
`

// run is the whole program; tests call it with their own arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, nil)
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr) // see backup.go
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "cofferd: unknown command %q\n\n%s", args[0], usage)
	return exitCode(2)
}
