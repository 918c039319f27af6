package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/coffer-money/coffer/client"
)

// printJSON writes v as indented JSON: the --json output.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a writer that aligns tab-separated columns; Flush it.
func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
}

// show prints a command's answer: v as JSON with --json, else what text
// writes for people. Commands answer through show or showf, so the JSON
// and the text come from the same value and only one place knows the flag.
func (a *app) show(v any, text func() error) error {
	if a.json {
		return a.printJSON(v)
	}
	return text()
}

// showf is show for an answer that reads as one formatted sentence.
func (a *app) showf(v any, format string, args ...any) error {
	if a.json {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.stdout, format, args...)
	return nil
}

// tabulate writes rows through an aligning table and flushes it.
func (a *app) tabulate(rows func(tw io.Writer)) error {
	tw := a.table()
	rows(tw)
	return tw.Flush()
}

// padLeft right-aligns amounts in a column: every value gets the width of
// the widest.
func padLeft(values []string) []string {
	w := 0
	for _, v := range values {
		w = max(w, utf8.RuneCountInString(v))
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = strings.Repeat(" ", w-utf8.RuneCountInString(v)) + v
	}
	return out
}

// humanTime shows t in local time to the minute, "-" when unknown.
func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// oneLine keeps a server-provided text from breaking the layout.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// explain turns an error from the client into a sentence for the member.
// Problems from the server read as their title and detail; a few codes get
// advice; network failures name the server. The result still wraps err.
func (a *app) explain(err error, server, member string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return sentence(err, "interrupted")
	}
	var e *client.Error
	if errors.As(err, &e) {
		switch {
		case e.Code == "unauthorized" && member != "":
			return sentence(err, "the server no longer accepts the session of member %s (it ended or was revoked): log in again with 'coffer login %s'", member, member)
		case e.Code == "unauthorized":
			return sentence(err, "not logged in: run 'coffer login MEMBER_ID'")
		case e.Code == "rate_limited":
			return sentence(err, "too many requests: wait a moment and try again")
		case e.Code == "internal":
			return sentence(err, "the server failed with an internal error: try again later")
		case e.Code == "" && e.Status >= 500:
			return sentence(err, "the server at %s answered %d %s: try again later", server, e.Status, http.StatusText(e.Status))
		}
		return sentence(err, "%s", clause(e.Error()))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		var errno syscall.Errno
		var dns *net.DNSError
		switch {
		case ue.Timeout():
			return sentence(err, "the server at %s did not answer in time", server)
		case errors.As(ue.Err, &errno):
			return sentence(err, "cannot reach the server at %s: %s", server, errno.Error())
		case errors.As(ue.Err, &dns):
			return sentence(err, "cannot reach the server at %s: %s", server, dns.Error())
		}
		return sentence(err, "cannot talk to the server at %s: %s", server, ue.Err.Error())
	}
	return err
}

// clause makes a server's sentence fit after a colon: "Purse Z1 does not
// exist." becomes "purse Z1 does not exist". Words such as "USD" keep their
// case.
func clause(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	if r2, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(r2) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// explainedError is an error rephrased for people that still wraps the
// original, so callers can inspect its code.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

func sentence(cause error, format string, args ...any) error {
	return &explainedError{msg: fmt.Sprintf(format, args...), err: cause}
}

// input returns stdin buffered once, so that a password and a code can be
// read one line after the other.
func (a *app) input() *bufio.Reader {
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	return a.in
}

// terminal returns stdin's file descriptor when it is a terminal.
func (a *app) terminal() (int, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readSecret asks for a secret: from the environment variable envName when
// set, else typed at the terminal without echo, else one line of stdin.
func (a *app) readSecret(envName, prompt, what string) (string, error) {
	if v := a.env(envName); v != "" {
		return v, nil
	}
	if fd, ok := a.terminal(); ok {
		fmt.Fprint(a.stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", what, err)
		}
		return string(b), nil
	}
	line, err := a.input().ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("no %s given: type it when asked, pipe it on standard input or set %s", what, envName)
		}
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	return line, nil
}

// readNewPassword asks for a new password, twice when typed at a terminal.
func (a *app) readNewPassword() (string, error) {
	pw, err := a.readSecret("COFFER_PASSWORD", "Choose a password: ", "password")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("the password is empty")
	}
	if _, tty := a.terminal(); tty && a.env("COFFER_PASSWORD") == "" {
		again, err := a.readSecret("COFFER_PASSWORD", "Type it again: ", "password")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the two passwords differ; nothing was registered")
		}
	}
	return pw, nil
}
