package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coffer-money/coffer/client"
)

const registrarHelp = `  registrar queue [--state pending|approved|rejected]
  registrar show REQUEST_ID
  registrar document DOCUMENT_ID --out FILE
  registrar approve REQUEST_ID --level L
  registrar reject REQUEST_ID --reason R
  registrar level MEMBER_ID LEVEL --reason R     raise or lower a member's level at once
  registrar link MEMBER_ID MEMBER_ID...          record that the IDs belong to one person
Only members with the registrar role may use these; others are told there is no such thing.`

// registrarFlags are the registrar command's flags, each for some of its
// subcommands.
type registrarFlags struct {
	state, out, level, reason string
}

func cmdRegistrar(a *app, args []string) error {
	fs := a.flags("registrar")
	var f registrarFlags
	fs.StringVar(&f.state, "state", "", "only requests in `STATE`: pending (default), approved, rejected (queue)")
	fs.StringVar(&f.out, "out", "", "write the document to `FILE` (document)")
	fs.StringVar(&f.level, "level", "", "the `LEVEL` granted (approve)")
	fs.StringVar(&f.reason, "reason", "", "why (reject, level)")
	pos, err := a.parse(fs, "registrar", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	// Check the usage before asking the server anything.
	if err := registrarUsage(sub, rest, f); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if err := registrarRun(a, c, sub, rest, f); err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return nil
}

// registrarUsage checks a registrar subcommand's arguments and flags.
func registrarUsage(sub string, rest []string, f registrarFlags) error {
	switch sub {
	case "queue":
		if err := onlyArgs("registrar queue", rest, 0, ""); err != nil {
			return err
		}
		switch f.state {
		case "", "pending", "approved", "rejected":
		default:
			return &usageError{msg: fmt.Sprintf("registrar queue: --state is pending, approved or rejected, not %q", f.state), cmd: "registrar"}
		}
	case "show":
		return onlyArgs("registrar show", rest, 1, "request ID")
	case "document":
		if err := onlyArgs("registrar document", rest, 1, "document ID"); err != nil {
			return err
		}
		return required("registrar document", "--out", f.out)
	case "approve":
		if err := onlyArgs("registrar approve", rest, 1, "request ID"); err != nil {
			return err
		}
		return required("registrar approve", "--level", f.level)
	case "reject":
		if err := onlyArgs("registrar reject", rest, 1, "request ID"); err != nil {
			return err
		}
		return required("registrar reject", "--reason", f.reason)
	case "level":
		if err := onlyArgs("registrar level", rest, 2, "member ID and the level"); err != nil {
			return err
		}
		if err := checkMemberID("registrar level", rest[0]); err != nil {
			return err
		}
		return required("registrar level", "--reason", f.reason)
	case "link":
		if len(rest) < 2 {
			return &usageError{msg: "registrar link: name at least two member IDs", cmd: "registrar"}
		}
		for _, id := range rest {
			if err := checkMemberID("registrar link", id); err != nil {
				return err
			}
		}
	default:
		return &usageError{msg: fmt.Sprintf("registrar: unknown subcommand %q (queue, show, document, approve, reject, level, link)", sub), cmd: "registrar"}
	}
	return nil
}

// registrarRun carries out a checked registrar subcommand. Errors from
// the server come back as they are, for the caller to explain; local
// ones (writing the document) come back already worded.
func registrarRun(a *app, c *client.Client, sub string, rest []string, f registrarFlags) error {
	switch sub {
	case "queue":
		return registrarQueue(a, c, f.state)
	case "show":
		return registrarShow(a, c, rest[0])
	case "document":
		ct, content, err := c.RegistrarDocument(a.ctx, rest[0])
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.out, content, 0o600); err != nil {
			return fmt.Errorf("registrar document: %w", err)
		}
		return a.showf(map[string]any{"document_id": rest[0], "content_type": ct, "size": len(content), "file": f.out},
			"Wrote %s (%s, %d bytes).\n", f.out, ct, len(content))
	case "approve":
		v, err := c.ApproveVerification(a.ctx, rest[0], strings.TrimSpace(f.level))
		if err != nil {
			return err
		}
		return a.showf(v, "Approved %s: member %s is now at level %s.\n", v.RequestID, v.MemberID, v.Level)
	case "reject":
		v, err := c.RejectVerification(a.ctx, rest[0], strings.TrimSpace(f.reason))
		if err != nil {
			return err
		}
		return a.showf(v, "Rejected %s.\n", v.RequestID)
	case "level":
		l, err := c.SetMemberLevel(a.ctx, rest[0], rest[1], strings.TrimSpace(f.reason))
		if err != nil {
			return err
		}
		return a.showf(map[string]any{"member_id": rest[0], "level": l}, "Member %s is now at level %s.\n", rest[0], l)
	default: // link
		p, err := c.LinkMembers(a.ctx, rest)
		if err != nil {
			return err
		}
		return a.showf(map[string]any{"person_id": p, "member_ids": rest}, "Linked %s as one person (%s).\n", strings.Join(rest, ", "), p)
	}
}

func registrarQueue(a *app, c *client.Client, state string) error {
	list, err := c.RegistrarQueue(a.ctx, state)
	if err != nil {
		return err
	}
	if list == nil {
		list = []client.Verification{}
	}
	return a.show(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "The queue is empty.")
			return nil
		}
		return a.tabulate(func(tw io.Writer) {
			fmt.Fprintln(tw, "REQUEST\tMEMBER\tSTATE\tLEVEL ASKED\tDOCUMENTS\tSUBMITTED")
			for _, v := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.RequestID, v.MemberID, v.State, dash(v.LevelRequested), len(v.Documents), v.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
		})
	})
}

func registrarShow(a *app, c *client.Client, id string) error {
	v, err := c.RegistrarRequest(a.ctx, id)
	if err != nil {
		return err
	}
	return a.show(v, func() error {
		return a.tabulate(func(tw io.Writer) {
			fmt.Fprintf(tw, "Request\t%s\nMember\t%s\nState\t%s\nLevel asked\t%s\n", v.RequestID, v.MemberID, v.State, dash(v.LevelRequested))
			for _, f := range client.ProfileFields {
				if val, ok := v.Values[f]; ok {
					fmt.Fprintf(tw, "%s\t%s\n", f, val)
				}
			}
			for _, d := range v.Documents {
				fmt.Fprintf(tw, "Document\t%s (%s, %d bytes, sha256 %s)\n", d.DocumentID, d.ContentType, d.Size, d.SHA256)
			}
		})
	})
}
