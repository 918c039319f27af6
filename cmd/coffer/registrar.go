package main

import (
	"fmt"
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

func cmdRegistrar(a *app, args []string) error {
	fs := a.flags("registrar")
	state := fs.String("state", "", "only requests in `STATE`: pending (default), approved, rejected (queue)")
	out := fs.String("out", "", "write the document to `FILE` (document)")
	level := fs.String("level", "", "the `LEVEL` granted (approve)")
	reason := fs.String("reason", "", "why (reject, level)")
	pos, err := a.parse(fs, "registrar", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	// Check the usage before asking the server anything.
	switch sub {
	case "queue":
		if err := onlyArgs("registrar queue", rest, 0, ""); err != nil {
			return err
		}
		switch *state {
		case "", "pending", "approved", "rejected":
		default:
			return &usageError{msg: fmt.Sprintf("registrar queue: --state is pending, approved or rejected, not %q", *state), cmd: "registrar"}
		}
	case "show":
		if err := onlyArgs("registrar show", rest, 1, "request ID"); err != nil {
			return err
		}
	case "document":
		if err := onlyArgs("registrar document", rest, 1, "document ID"); err != nil {
			return err
		}
		if err := required("registrar document", "--out", *out); err != nil {
			return err
		}
	case "approve":
		if err := onlyArgs("registrar approve", rest, 1, "request ID"); err != nil {
			return err
		}
		if err := required("registrar approve", "--level", *level); err != nil {
			return err
		}
	case "reject":
		if err := onlyArgs("registrar reject", rest, 1, "request ID"); err != nil {
			return err
		}
		if err := required("registrar reject", "--reason", *reason); err != nil {
			return err
		}
	case "level":
		if err := onlyArgs("registrar level", rest, 2, "member ID and the level"); err != nil {
			return err
		}
		if err := checkMemberID("registrar level", rest[0]); err != nil {
			return err
		}
		if err := required("registrar level", "--reason", *reason); err != nil {
			return err
		}
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
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	fail := func(err error) error { return a.explain(err, c.BaseURL(), cr.MemberID) }
	switch sub {
	case "queue":
		list, err := c.RegistrarQueue(a.ctx, *state)
		if err != nil {
			return fail(err)
		}
		if list == nil {
			list = []client.Verification{}
		}
		if a.json {
			return a.printJSON(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "The queue is empty.")
			return nil
		}
		tw := a.table()
		fmt.Fprintln(tw, "REQUEST\tMEMBER\tSTATE\tLEVEL ASKED\tDOCUMENTS\tSUBMITTED")
		for _, v := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.RequestID, v.MemberID, v.State, dash(v.LevelRequested), len(v.Documents), v.CreatedAt.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "show":
		v, err := c.RegistrarRequest(a.ctx, rest[0])
		if err != nil {
			return fail(err)
		}
		if a.json {
			return a.printJSON(v)
		}
		tw := a.table()
		fmt.Fprintf(tw, "Request\t%s\nMember\t%s\nState\t%s\nLevel asked\t%s\n", v.RequestID, v.MemberID, v.State, dash(v.LevelRequested))
		for _, f := range client.ProfileFields {
			if val, ok := v.Values[f]; ok {
				fmt.Fprintf(tw, "%s\t%s\n", f, val)
			}
		}
		for _, d := range v.Documents {
			fmt.Fprintf(tw, "Document\t%s (%s, %d bytes, sha256 %s)\n", d.DocumentID, d.ContentType, d.Size, d.SHA256)
		}
		return tw.Flush()
	case "document":
		ct, content, err := c.RegistrarDocument(a.ctx, rest[0])
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(*out, content, 0o600); err != nil {
			return fmt.Errorf("registrar document: %w", err)
		}
		if a.json {
			return a.printJSON(map[string]any{"document_id": rest[0], "content_type": ct, "size": len(content), "file": *out})
		}
		fmt.Fprintf(a.stdout, "Wrote %s (%s, %d bytes).\n", *out, ct, len(content))
		return nil
	case "approve", "reject":
		var v *client.Verification
		if sub == "approve" {
			v, err = c.ApproveVerification(a.ctx, rest[0], strings.TrimSpace(*level))
		} else {
			v, err = c.RejectVerification(a.ctx, rest[0], strings.TrimSpace(*reason))
		}
		if err != nil {
			return fail(err)
		}
		if a.json {
			return a.printJSON(v)
		}
		if sub == "approve" {
			fmt.Fprintf(a.stdout, "Approved %s: member %s is now at level %s.\n", v.RequestID, v.MemberID, v.Level)
		} else {
			fmt.Fprintf(a.stdout, "Rejected %s.\n", v.RequestID)
		}
		return nil
	case "level":
		l, err := c.SetMemberLevel(a.ctx, rest[0], rest[1], strings.TrimSpace(*reason))
		if err != nil {
			return fail(err)
		}
		if a.json {
			return a.printJSON(map[string]any{"member_id": rest[0], "level": l})
		}
		fmt.Fprintf(a.stdout, "Member %s is now at level %s.\n", rest[0], l)
		return nil
	default: // link
		p, err := c.LinkMembers(a.ctx, rest)
		if err != nil {
			return fail(err)
		}
		if a.json {
			return a.printJSON(map[string]any{"person_id": p, "member_ids": rest})
		}
		fmt.Fprintf(a.stdout, "Linked %s as one person (%s).\n", strings.Join(rest, ", "), p)
		return nil
	}
}
