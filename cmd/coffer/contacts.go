package main

import (
	"fmt"
	"io"

	"github.com/coffer-money/coffer/client"
)

const contactsHelp = `  contacts list
  contacts add MEMBER_ID [--note TEXT]
  contacts remove MEMBER_ID
  contacts only-contacts on|off     when on, only contacts may send you transfers, invoices
                                    and disclosure requests (refunds and your own payments pass)`

func cmdContacts(a *app, args []string) error {
	fs := a.flags("contacts")
	note := fs.String("note", "", "a note of your own about the contact (add)")
	pos, err := a.parse(fs, "contacts", args, 1, 2)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "list":
		if err := onlyArgs("contacts list", rest, 0, ""); err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		l, err := c.Contacts(a.ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if l.Contacts == nil {
			l.Contacts = []client.Contact{}
		}
		return a.show(l, func() error {
			if l.OnlyContacts {
				fmt.Fprintln(a.stdout, "Only your contacts may send you transfers, invoices and disclosure requests.")
			} else {
				fmt.Fprintln(a.stdout, "Anyone may send you transfers, invoices and disclosure requests.")
			}
			if len(l.Contacts) == 0 {
				fmt.Fprintln(a.stdout, "No contacts.")
				return nil
			}
			return a.tabulate(func(tw io.Writer) {
				fmt.Fprintln(tw, "MEMBER\tADDED\tNOTE")
				for _, ct := range l.Contacts {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", ct.MemberID, ct.CreatedAt.Local().Format("2006-01-02"), ct.Note)
				}
			})
		})
	case "add", "remove":
		if err := onlyArgs("contacts "+sub, rest, 1, "member ID"); err != nil {
			return err
		}
		if err := checkMemberID("contacts "+sub, rest[0]); err != nil {
			return err
		}
		if sub == "remove" && *note != "" {
			return &usageError{msg: "contacts remove: --note goes with add", cmd: "contacts"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		if sub == "add" {
			ct, err := c.AddContact(a.ctx, rest[0], *note)
			if err != nil {
				return a.explain(err, c.BaseURL(), cr.MemberID)
			}
			return a.showf(ct, "Member %s is one of your contacts.\n", ct.MemberID)
		}
		if err := c.RemoveContact(a.ctx, rest[0]); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		return a.showf(map[string]any{"removed": rest[0]}, "Member %s is no longer one of your contacts.\n", rest[0])
	case "only-contacts":
		if err := onlyArgs("contacts only-contacts", rest, 1, "setting: on or off"); err != nil {
			return err
		}
		var on bool
		switch rest[0] {
		case "on":
			on = true
		case "off":
		default:
			return &usageError{msg: fmt.Sprintf("contacts only-contacts: say on or off, not %q", rest[0]), cmd: "contacts"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		if err := c.SetOnlyContacts(a.ctx, on); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		msg := "Anyone may send you transfers, invoices and disclosure requests again.\n"
		if on {
			msg = "Only your contacts may send you transfers, invoices and disclosure requests now.\n"
		}
		return a.showf(map[string]any{"only_contacts": on}, "%s", msg)
	}
	return &usageError{msg: fmt.Sprintf("contacts: unknown subcommand %q (list, add, remove, only-contacts)", sub), cmd: "contacts"}
}
