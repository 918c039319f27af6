package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand of the keeper.
type command struct {
	name    string
	args    string   // synopsis after the name, flags included
	summary string   // one line for the command list
	help    string   // more text for "coffer help NAME", may be empty
	subs    []string // its subcommands, for the completion and the help test
	run     func(a *app, args []string) error
}

// commands is the keeper's command table, in the order "coffer help"
// lists them.
var commands []*command

func init() {
	// Filled here rather than in the declaration because the commands
	// refer back to the table for their usage text.
	commands = []*command{
		{name: "register", args: "[--email E] [--phone P]", summary: "create a new member ID and log in with it",
			help: "The password is read from the terminal (asked twice), from one line of standard input,\nor from COFFER_PASSWORD.", run: cmdRegister},
		{name: "login", args: "LOGIN", summary: "log in with a member ID, e-mail or phone and save the session",
			help: "The password is read from the terminal, from one line of standard input, or from\nCOFFER_PASSWORD. A one-time code, when the server asks for one, likewise or from COFFER_CODE.\nSessions of several members are kept side by side; the last one logged in acts by default.", run: cmdLogin},
		{name: "logout", summary: "end the session on the server and forget it here", run: cmdLogout},
		{name: "whoami", summary: "show the member the keeper acts as", run: cmdWhoami},
		{name: "passwd", summary: "change your password; your other sessions end", help: passwdHelp, run: cmdPasswd},
		{name: "sessions", args: "[revoke SESSION_ID]", summary: "list the member's open sessions, or revoke one", subs: []string{"revoke"}, run: cmdSessions},
		{name: "currencies", summary: "list the currencies the server keeps", run: cmdCurrencies},
		{name: "purses", summary: "list your purses and balances", run: cmdPurses},
		{name: "purse", args: "new CURRENCY | PURSE | limits PURSE [--per-transfer A|none] [--per-day A|none] [--per-month A|none]", summary: "open a purse in a currency, show one purse, or show or set its outgoing limits", subs: []string{"new", "limits"}, run: cmdPurse},
		{name: "send", args: "--from PURSE --to PURSE --amount AMOUNT [--desc TEXT] [--id TRANSFER_ID] [--protect-code C --protect-days N | --protect-time-days N] [--invoice ID] [--trust ID]", summary: "send money",
			help: sendHelp, run: cmdSend},
		{name: "send-batch", args: "FILE.csv [--all-or-nothing]", summary: "send many transfers from a CSV file in one request", help: batchHelp, run: cmdSendBatch},
		{name: "quote", args: "--from PURSE --to PURSE --amount AMOUNT", summary: "show what a transfer would cost, fee included", run: cmdQuote},
		{name: "fees", summary: "list the fees on transfers per currency", run: cmdFees},
		{name: "held", summary: "list protected transfers still held, sent and waiting for you", run: cmdHeld},
		{name: "release", args: "TRANSFER_ID --from PURSE [--code C]", summary: "receive a protected transfer sent to you, with the sender's code", run: cmdRelease},
		{name: "refuse", args: "TRANSFER_ID --from PURSE", summary: "send a protected transfer back to its sender", run: cmdRefuse},
		{name: "refund", args: "TRANSFER_ID --from PURSE --amount AMOUNT [--id NEW_ID] [--desc TEXT]", summary: "give back all or part of a transfer you received",
			help: "TRANSFER_ID and --from name the payment as its sender did. Without --id the refund's ID is\nmade up and printed; repeating with the same --id never refunds twice.", run: cmdRefund},
		{name: "invoice", args: "new|list|show|pay|refuse|cancel ...", summary: "issue, list, pay or decline invoices", help: invoiceHelp, subs: []string{"new", "list", "show", "pay", "refuse", "cancel"}, run: cmdInvoice},
		{name: "trust", args: "grant|list|revoke ...", summary: "let a merchant debit your purse within limits, list or revoke trusts", help: trustHelp, subs: []string{"grant", "list", "revoke"}, run: cmdTrust},
		{name: "history", args: "PURSE [--limit N] [--all] [--since T] [--until T] [--cursor C] | PURSE --csv|--json|--statement [--since T] [--until T]", summary: "show a purse's movements, newest first, or its statement",
			help: historyHelp, run: cmdHistory},
		{name: "transfer", args: "TRANSFER_ID", summary: "show one transfer you sent or received", run: cmdTransfer},
		{name: "whois", args: "PURSE", summary: "show which member ID owns a purse (check a payee)", run: cmdWhois},
		{name: "profile", args: "show | set FIELD=VALUE... | visibility FIELD=VIS...", summary: "your personal data and who may see each field", help: profileHelp, subs: []string{"show", "set", "visibility"}, run: cmdProfile},
		{name: "member", args: "show MEMBER_ID | check MEMBER_ID FIELD=VALUE...", summary: "see what a member shows you, or check data you hold against theirs", help: memberHelp, subs: []string{"show", "check"}, run: cmdMember},
		{name: "disclosure", args: "request|list|grant|refuse|revoke ...", summary: "ask to see a member's hidden data, or answer such requests", help: disclosureHelp, subs: []string{"request", "list", "grant", "refuse", "revoke"}, run: cmdDisclosure},
		{name: "contacts", args: "list | add MEMBER_ID [--note N] | remove MEMBER_ID | only-contacts on|off", summary: "your contacts, and whether only they may send to you", help: contactsHelp, subs: []string{"list", "add", "remove", "only-contacts"}, run: cmdContacts},
		{name: "verification", args: "upload FILE... | submit [--documents IDS] [--level L] | status", summary: "have your identity verified: upload documents, submit, see your level", help: verificationHelp, subs: []string{"upload", "submit", "status"}, run: cmdVerification},
		{name: "registrar", args: "queue|show|document|approve|reject|level|link ...", summary: "review verification requests (registrars only)", help: registrarHelp, subs: []string{"queue", "show", "document", "approve", "reject", "level", "link"}, run: cmdRegistrar},
		{name: "account", args: "export [--out FILE] | close [--confirm ID:CODE]", summary: "download everything stored about you, or close your account", help: accountHelp, subs: []string{"export", "close"}, run: cmdAccount},
		{name: "cert", args: "request [--out DIR] | list | revoke CERTIFICATE_ID", summary: "get a personal client certificate, list yours, or revoke one",
			help: certHelp, subs: []string{"request", "list", "revoke"}, run: cmdCert},
		{name: "keys", args: "new [--name N] [--out FILE] | list | rename KEY_ID NAME | revoke KEY_ID | backup --to DIR | restore --from DIR | passwd",
			summary: "make and manage key files that sign requests instead of a session", help: keysHelp, subs: []string{"new", "list", "rename", "revoke", "backup", "restore", "passwd"}, run: cmdKeys},
		{name: "security", args: "ip-ranges [set CIDR...|clear] | unblock --member ID --code C | notifications [...] | log",
			summary: "allowed IP ranges, e-mail notifications and the security log", help: securityHelp, subs: []string{"ip-ranges", "unblock", "confirmation", "phone", "recovery-codes", "new-device", "notifications", "log"}, run: cmdSecurity},
		{name: "otp", args: "enroll [--confirm ID:CODE] | code | answer CHALLENGE", summary: "act as your code generator: enrol it, print a code, answer a transfer challenge",
			help: otpHelp, subs: []string{"enroll", "code", "answer"}, run: cmdOTP},
		{name: "dev", args: "sms [--data DIR] [--to PHONE] | mail [--data DIR] [-n N]", summary: "development: show the last SMS or e-mail in a server's outbox", subs: []string{"sms", "mail"}, run: cmdDevMail},
		{name: "version", summary: "print the keeper's version, from its build information", run: cmdVersion},
		{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script", help: completionHelp,
			subs: []string{"bash", "zsh", "fish"}, run: cmdCompletion},
		{name: "help", args: "[COMMAND]", summary: "show help", run: cmdHelp},
	}
}

const sendHelp = `Without --id a transfer ID is made up and printed. Sending again with the same --id
and the same details never pays twice, so after a network failure it is safe to repeat.
A protected transfer waits, held, in the payee's purse: with --protect-code C --protect-days N
the payee receives it by entering the code C (which you tell them) within N days (1-255),
else it comes back to you; with --protect-time-days N (1-120) the payee receives it after
N days unless they refuse it. --invoice pays an invoice; --trust debits a member's purse
(--from) under a trust they gave you. The fee, if any, is paid on top (see 'coffer quote').`

const historyHelp = `T is an RFC 3339 time (2030-01-31T12:00:00Z) or a date (2030-01-31, local midnight).
With --csv, --statement, or --json without --limit, --all and --cursor, it prints the
statement of the period (default: the current month): the opening available and held
money, the movements oldest first (held ones marked), then the closing. --csv prints the
server's CSV, ready for a spreadsheet: coffer history Z123456789012 --csv > statement.csv`

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// printUsage writes the keeper's usage and command list to w.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `coffer is the keeper: your command-line client for a coffer e-money server.

Usage: coffer [--server URL] [--as MEMBER_ID] [--json] [--config DIR] COMMAND [ARGS]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global flags (also accepted after the command):
`)
	fs := flag.NewFlagSet("coffer", flag.ContinueOnError)
	(&app{}).globalFlags(fs)
	versionFlag(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nRun 'coffer help COMMAND' or 'coffer COMMAND -h' for a command's usage.\n")
}

// printUsage writes one command's usage, with its flags, to w.
func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", strings.TrimSpace("coffer "+c.name+" "+c.args), upperFirst(c.summary))
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	if fs != nil {
		var own strings.Builder
		fs.SetOutput(&own)
		fs.VisitAll(func(f *flag.Flag) {
			switch f.Name {
			case "server", "as", "json", "config", "cert", "cert-key", "ca", "key", "passphrase-fd":
				return
			}
			// Print one flag at a time through a throwaway set so the
			// global flags stay out of the list.
			one := flag.NewFlagSet("", flag.ContinueOnError)
			one.Var(f.Value, f.Name, f.Usage)
			one.Lookup(f.Name).DefValue = f.DefValue
			one.SetOutput(&own)
			one.PrintDefaults()
		})
		if own.Len() > 0 {
			fmt.Fprintf(w, "\nFlags:\n%s", own.String())
		}
	}
	fmt.Fprint(w, "\nGlobal flags --server, --as, --json and --config apply too; see 'coffer help'.\n")
}

// flags returns a flag set for command name that also knows the global
// flags.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("coffer "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.globalFlags(fs)
	return fs
}

// parse parses args for command name, letting flags and arguments mix
// ("history Z1 --all" as well as "history --all Z1"). It prints the usage
// and returns errHelpShown for -h, and a usage error for a bad flag or a
// number of arguments outside [min, max] (max < 0: no limit).
func (a *app) parse(fs *flag.FlagSet, name string, args []string, min, max int) ([]string, error) {
	if a.capture != nil {
		a.capture(fs)
		return nil, errFlagsCaptured
	}
	cmd := findCommand(name)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				cmd.printUsage(a.stdout, fs)
				return nil, errHelpShown
			}
			return nil, &usageError{msg: fmt.Sprintf("%s: %v", name, err), cmd: name}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// A "--" ends the flags: everything after it is an argument.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) < min:
		return nil, &usageError{msg: fmt.Sprintf("%s: missing argument (usage: coffer %s %s)", name, name, cmd.args), cmd: name}
	case max >= 0 && len(positional) > max:
		return nil, &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", name, positional[max]), cmd: name}
	}
	return positional, nil
}

func cmdHelp(a *app, args []string) error {
	fs := a.flags("help")
	pos, err := a.parse(fs, "help", args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		printUsage(a.stdout)
		return nil
	}
	c := findCommand(pos[0])
	if c == nil {
		return usagef("unknown command %q", pos[0])
	}
	// Run the command with -h so its usage lists its real flags.
	return c.run(a, []string{"-h"})
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
