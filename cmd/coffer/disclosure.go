package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coffer-money/coffer/client"
)

const disclosureHelp = `  disclosure request MEMBER_ID --fields a,b --reason R   ask a counterparty to show fields
  disclosure list [--role subject|requester]            requests about you (default) or made by you
  disclosure grant ID [--fields a,b] [--until DATE]     grant all fields asked for, or some; until a
                                                        date (YYYY-MM-DD, through that day) or revoked
  disclosure refuse ID
  disclosure revoke ID                                  end a grant at once`

// parseUntil reads a grant's end: a date (through that day, local time)
// or an RFC 3339 time.
func parseUntil(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var t time.Time
	if d, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		t = d.AddDate(0, 0, 1)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return nil, &usageError{msg: fmt.Sprintf("disclosure grant: --until %q is not a date such as 2030-01-31", s), cmd: "disclosure"}
	}
	if !t.After(now) {
		return nil, &usageError{msg: fmt.Sprintf("disclosure grant: --until %s lies in the past", s), cmd: "disclosure"}
	}
	t = t.UTC()
	return &t, nil
}

func cmdDisclosure(a *app, args []string) error {
	fs := a.flags("disclosure")
	fieldsFlag := fs.String("fields", "", "comma-separated profile `FIELDS` (request; grant: a subset)")
	reason := fs.String("reason", "", "why you ask, shown to the member (request)")
	role := fs.String("role", "", "subject (about you, default) or requester (made by you) (list)")
	until := fs.String("until", "", "the grant's last `DATE` (YYYY-MM-DD) (grant; default: until revoked)")
	pos, err := a.parse(fs, "disclosure", args, 1, 2)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "request":
		return disclosureRequest(a, rest, *fieldsFlag, *reason)
	case "list":
		return disclosureList(a, rest, *role)
	case "grant", "refuse", "revoke":
		return disclosureAnswer(a, sub, rest, *fieldsFlag, *until)
	}
	return &usageError{msg: fmt.Sprintf("disclosure: unknown subcommand %q (request, list, grant, refuse, revoke)", sub), cmd: "disclosure"}
}

func disclosureRequest(a *app, rest []string, fieldsFlag, reason string) error {
	if err := onlyArgs("disclosure request", rest, 1, "member ID"); err != nil {
		return err
	}
	if err := checkMemberID("disclosure request", rest[0]); err != nil {
		return err
	}
	if err := required("disclosure request", "--fields", fieldsFlag, "--reason", reason); err != nil {
		return err
	}
	fields, err := fieldList("disclosure request", fieldsFlag)
	if err != nil {
		return err
	}
	if len(fields) == 0 {
		return &usageError{msg: "disclosure request: --fields names no field", cmd: "disclosure"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	d, err := c.RequestDisclosure(a.ctx, rest[0], fields, strings.TrimSpace(reason))
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(d, "Asked member %s to show %s: request %s.\n", d.Subject, strings.Join(d.Fields, ", "), d.RequestID)
}

func disclosureList(a *app, rest []string, role string) error {
	if err := onlyArgs("disclosure list", rest, 0, ""); err != nil {
		return err
	}
	switch role {
	case "", "subject", "requester":
	default:
		return &usageError{msg: fmt.Sprintf("disclosure list: --role is subject or requester, not %q", role), cmd: "disclosure"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Disclosures(a.ctx, role)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if list == nil {
		list = []client.Disclosure{}
	}
	return a.show(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No disclosure requests.")
			return nil
		}
		return a.tabulate(func(tw io.Writer) {
			fmt.Fprintln(tw, "REQUEST\tFROM\tABOUT\tFIELDS\tSTATE\tGRANTED\tUNTIL\tREASON")
			for _, d := range list {
				u := "-"
				if d.Until != nil {
					u = d.Until.Local().Format("2006-01-02 15:04")
				}
				g := strings.Join(d.Granted, ",")
				if g == "" {
					g = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.RequestID, d.Requester, d.Subject, strings.Join(d.Fields, ","), d.State, g, u, short(d.Reason))
			}
		})
	})
}

// disclosureAnswer grants, refuses or revokes a request made to the member.
func disclosureAnswer(a *app, sub string, rest []string, fieldsFlag, until string) error {
	if err := onlyArgs("disclosure "+sub, rest, 1, "request ID"); err != nil {
		return err
	}
	var fields []string
	var end *time.Time
	var err error
	if sub == "grant" {
		if fields, err = fieldList("disclosure grant", fieldsFlag); err != nil {
			return err
		}
		if end, err = parseUntil(until, a.now()); err != nil {
			return err
		}
	} else if fieldsFlag != "" || until != "" {
		return &usageError{msg: "disclosure " + sub + ": --fields and --until go with grant", cmd: "disclosure"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	var d *client.Disclosure
	switch sub {
	case "grant":
		d, err = c.GrantDisclosure(a.ctx, rest[0], fields, end)
	case "refuse":
		d, err = c.RefuseDisclosure(a.ctx, rest[0])
	default:
		d, err = c.RevokeDisclosure(a.ctx, rest[0])
	}
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	switch sub {
	case "grant":
		to := "until you revoke it"
		if d.Until != nil {
			to = "until " + d.Until.Local().Format("2006-01-02 15:04")
		}
		return a.showf(d, "Granted: member %s sees %s %s.\n", d.Requester, strings.Join(d.Granted, ", "), to)
	case "refuse":
		return a.showf(d, "Refused request %s of member %s.\n", d.RequestID, d.Requester)
	}
	return a.showf(d, "Revoked: member %s no longer sees what you granted.\n", d.Requester)
}

// short keeps a long text to one table cell.
func short(s string) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}
