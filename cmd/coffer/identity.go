package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-money/coffer/client"
)

const profileHelp = `  profile show                          your personal data and who sees each field
  profile set FIELD=VALUE...            set fields (FIELD= with nothing deletes one)
  profile visibility FIELD=VIS...       who sees a field: everyone, counterparties, on_request, nobody
Fields: first_name, last_name, postal_address, city, country (ISO code such as DE),
date_of_birth (YYYY-MM-DD), document_number; e-mail and phone are your login ones
and linked_member_ids is set by a registrar (their visibility may be set all the same).`

const memberHelp = `  member show MEMBER_ID                 what you may see of a member (never their purses)
  member check MEMBER_ID FIELD=VALUE... whether data you hold matches theirs: match or no_match
                                        (verified merchants only; the member sees who checked)`

const disclosureHelp = `  disclosure request MEMBER_ID --fields a,b --reason R   ask a counterparty to show fields
  disclosure list [--role subject|requester]            requests about you (default) or made by you
  disclosure grant ID [--fields a,b] [--until DATE]     grant all fields asked for, or some; until a
                                                        date (YYYY-MM-DD, through that day) or revoked
  disclosure refuse ID
  disclosure revoke ID                                  end a grant at once`

const contactsHelp = `  contacts list
  contacts add MEMBER_ID [--note TEXT]
  contacts remove MEMBER_ID
  contacts only-contacts on|off     when on, only contacts may send you transfers, invoices
                                    and disclosure requests (refunds and your own payments pass)`

const verificationHelp = `  verification upload FILE...           upload scans of documents (JPEG, PNG or PDF, at most 5 MiB each)
  verification submit [--documents ID,ID] [--level L]
                                        ask a registrar to check your profile with the documents
                                        (default: the documents uploaded since the last submit)
  verification status                   your level, what it allows, and your requests`

const registrarHelp = `  registrar queue [--state pending|approved|rejected]
  registrar show REQUEST_ID
  registrar document DOCUMENT_ID --out FILE
  registrar approve REQUEST_ID --level L
  registrar reject REQUEST_ID --reason R
  registrar level MEMBER_ID LEVEL --reason R     raise or lower a member's level at once
  registrar link MEMBER_ID MEMBER_ID...          record that the IDs belong to one person
Only members with the registrar role may use these; others are told there is no such thing.`

const accountHelp = `  account export [--out FILE]     everything the server stores about you, as JSON
  account close [--confirm ID:CODE]
                                  close the account for good: your data is erased, sessions
                                  end, and your member ID can no longer log in. Every purse
                                  must be empty first. Needs a password session; with a second
                                  factor, confirm with --confirm as the server's answer tells.`

var memberIDRE = regexp.MustCompile(`^[0-9]{12}$`)

func checkMemberID(cmd, id string) error {
	if !memberIDRE.MatchString(id) {
		name, _, _ := strings.Cut(cmd, " ")
		return &usageError{msg: fmt.Sprintf("%s: %q is not a member ID (12 digits)", cmd, id), cmd: name}
	}
	return nil
}

// fieldValues reads FIELD=VALUE arguments.
func fieldValues(cmd string, args []string, check func(field, value string) error) (map[string]string, error) {
	name, _, _ := strings.Cut(cmd, " ")
	if len(args) == 0 {
		return nil, &usageError{msg: cmd + ": name at least one FIELD=VALUE", cmd: name}
	}
	out := map[string]string{}
	for _, a := range args {
		f, v, ok := strings.Cut(a, "=")
		f = strings.TrimSpace(f)
		if !ok || f == "" {
			return nil, &usageError{msg: fmt.Sprintf("%s: %q is not FIELD=VALUE", cmd, a), cmd: name}
		}
		if !client.KnownField(f) {
			return nil, &usageError{msg: fmt.Sprintf("%s: unknown field %q (fields: %s)", cmd, f, strings.Join(client.ProfileFields, ", ")), cmd: name}
		}
		if _, dup := out[f]; dup {
			return nil, &usageError{msg: fmt.Sprintf("%s: %s is given twice", cmd, f), cmd: name}
		}
		v = strings.TrimSpace(v)
		if check != nil {
			if err := check(f, v); err != nil {
				return nil, &usageError{msg: cmd + ": " + err.Error(), cmd: name}
			}
		}
		out[f] = v
	}
	return out, nil
}

// fieldList reads --fields a,b.
func fieldList(cmd, s string) ([]string, error) {
	name, _, _ := strings.Cut(cmd, " ")
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !client.KnownField(f) {
			return nil, &usageError{msg: fmt.Sprintf("%s: unknown field %q in --fields", cmd, f), cmd: name}
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

func onlyArgs(cmd string, pos []string, n int, what string) error {
	name, _, _ := strings.Cut(cmd, " ")
	switch {
	case len(pos) < n:
		return &usageError{msg: cmd + ": name the " + what, cmd: name}
	case len(pos) > n:
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", cmd, pos[n]), cmd: name}
	}
	return nil
}

func cmdProfile(a *app, args []string) error {
	fs := a.flags("profile")
	pos, err := a.parse(fs, "profile", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "show":
		if err := onlyArgs("profile show", rest, 0, ""); err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		p, err := c.Profile(a.ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		return a.printProfile(p)
	case "set":
		values, err := fieldValues("profile set", rest, func(f, v string) error {
			switch f {
			case client.FieldEmail, client.FieldPhone:
				return fmt.Errorf("%s is your login; change it in the security settings, not the profile", f)
			case client.FieldLinkedIDs:
				return fmt.Errorf("%s is recorded by a registrar", f)
			case client.FieldDateOfBirth:
				if v != "" {
					if _, err := time.Parse(time.DateOnly, v); err != nil {
						return fmt.Errorf("date_of_birth %q is not a date such as 1990-05-04", v)
					}
				}
			case client.FieldCountry:
				if v != "" && !regexp.MustCompile(`^[A-Za-z]{2}$`).MatchString(v) {
					return fmt.Errorf("country %q is not a two-letter code such as DE", v)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if v, ok := values[client.FieldCountry]; ok {
			values[client.FieldCountry] = strings.ToUpper(v)
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		p, err := c.SetProfile(a.ctx, values)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(p)
		}
		fmt.Fprintln(a.stdout, "Saved.")
		return a.printProfile(p)
	case "visibility":
		vis, err := fieldValues("profile visibility", rest, func(f, v string) error {
			if !client.ValidVisibility(v) {
				return fmt.Errorf("%s=%s: the visibility is everyone, counterparties, on_request or nobody", f, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		got, err := c.SetVisibility(a.ctx, vis)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(got)
		}
		tw := a.table()
		for _, f := range client.ProfileFields {
			fmt.Fprintf(tw, "%s\t%s\n", f, orNobody(got[f]))
		}
		return tw.Flush()
	}
	return &usageError{msg: fmt.Sprintf("profile: unknown subcommand %q (show, set, visibility)", sub), cmd: "profile"}
}

func orNobody(v string) string {
	if v == "" {
		return client.VisibleNobody
	}
	return v
}

func (a *app) printProfile(p *client.Profile) error {
	if a.json {
		return a.printJSON(p)
	}
	tw := a.table()
	fmt.Fprintln(tw, "FIELD\tVALUE\tVISIBLE TO")
	for _, f := range client.ProfileFields {
		v := p.Values.Values[f]
		if f == client.FieldLinkedIDs {
			v = strings.Join(p.Values.LinkedMemberIDs, ", ")
		}
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f, v, orNobody(p.Visibility[f]))
	}
	return tw.Flush()
}

func cmdMember(a *app, args []string) error {
	fs := a.flags("member")
	pos, err := a.parse(fs, "member", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "show":
		if err := onlyArgs("member show", rest, 1, "member ID"); err != nil {
			return err
		}
		if err := checkMemberID("member show", rest[0]); err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		v, err := c.Member(a.ctx, rest[0])
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(v)
		}
		tw := a.table()
		fmt.Fprintf(tw, "Member\t%s\nLevel\t%s\nRegistered\t%s\n", v.MemberID, v.Level, v.Registered)
		for _, f := range client.ProfileFields {
			if val, ok := v.Fields.Values[f]; ok {
				fmt.Fprintf(tw, "%s\t%s\n", f, val)
			}
		}
		if len(v.Fields.LinkedMemberIDs) > 0 {
			fmt.Fprintf(tw, "%s\t%s\n", client.FieldLinkedIDs, strings.Join(v.Fields.LinkedMemberIDs, ", "))
		}
		return tw.Flush()
	case "check":
		if len(rest) == 0 {
			return &usageError{msg: "member check: name the member ID", cmd: "member"}
		}
		if err := checkMemberID("member check", rest[0]); err != nil {
			return err
		}
		values, err := fieldValues("member check", rest[1:], func(f, v string) error {
			if f == client.FieldLinkedIDs {
				return fmt.Errorf("%s cannot be checked", f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		res, err := c.CheckMember(a.ctx, rest[0], values)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(map[string]any{"results": res})
		}
		tw := a.table()
		for _, f := range client.ProfileFields {
			if r, ok := res[f]; ok {
				fmt.Fprintf(tw, "%s\t%s\n", f, r)
			}
		}
		return tw.Flush()
	}
	return &usageError{msg: fmt.Sprintf("member: unknown subcommand %q (show, check)", sub), cmd: "member"}
}

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
		if err := onlyArgs("disclosure request", rest, 1, "member ID"); err != nil {
			return err
		}
		if err := checkMemberID("disclosure request", rest[0]); err != nil {
			return err
		}
		if err := required("disclosure request", "--fields", *fieldsFlag, "--reason", *reason); err != nil {
			return err
		}
		fields, err := fieldList("disclosure request", *fieldsFlag)
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
		d, err := c.RequestDisclosure(a.ctx, rest[0], fields, strings.TrimSpace(*reason))
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(d)
		}
		fmt.Fprintf(a.stdout, "Asked member %s to show %s: request %s.\n", d.Subject, strings.Join(d.Fields, ", "), d.RequestID)
		return nil
	case "list":
		if err := onlyArgs("disclosure list", rest, 0, ""); err != nil {
			return err
		}
		switch *role {
		case "", "subject", "requester":
		default:
			return &usageError{msg: fmt.Sprintf("disclosure list: --role is subject or requester, not %q", *role), cmd: "disclosure"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		list, err := c.Disclosures(a.ctx, *role)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if list == nil {
			list = []client.Disclosure{}
		}
		if a.json {
			return a.printJSON(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No disclosure requests.")
			return nil
		}
		tw := a.table()
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
		return tw.Flush()
	case "grant", "refuse", "revoke":
		if err := onlyArgs("disclosure "+sub, rest, 1, "request ID"); err != nil {
			return err
		}
		var fields []string
		var end *time.Time
		if sub == "grant" {
			if fields, err = fieldList("disclosure grant", *fieldsFlag); err != nil {
				return err
			}
			if end, err = parseUntil(*until, a.now()); err != nil {
				return err
			}
		} else if *fieldsFlag != "" || *until != "" {
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
		if a.json {
			return a.printJSON(d)
		}
		switch sub {
		case "grant":
			to := "until you revoke it"
			if d.Until != nil {
				to = "until " + d.Until.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(a.stdout, "Granted: member %s sees %s %s.\n", d.Requester, strings.Join(d.Granted, ", "), to)
		case "refuse":
			fmt.Fprintf(a.stdout, "Refused request %s of member %s.\n", d.RequestID, d.Requester)
		default:
			fmt.Fprintf(a.stdout, "Revoked: member %s no longer sees what you granted.\n", d.Requester)
		}
		return nil
	}
	return &usageError{msg: fmt.Sprintf("disclosure: unknown subcommand %q (request, list, grant, refuse, revoke)", sub), cmd: "disclosure"}
}

// short keeps a long text to one table cell.
func short(s string) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}

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
		if a.json {
			return a.printJSON(l)
		}
		if l.OnlyContacts {
			fmt.Fprintln(a.stdout, "Only your contacts may send you transfers, invoices and disclosure requests.")
		} else {
			fmt.Fprintln(a.stdout, "Anyone may send you transfers, invoices and disclosure requests.")
		}
		if len(l.Contacts) == 0 {
			fmt.Fprintln(a.stdout, "No contacts.")
			return nil
		}
		tw := a.table()
		fmt.Fprintln(tw, "MEMBER\tADDED\tNOTE")
		for _, ct := range l.Contacts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ct.MemberID, ct.CreatedAt.Local().Format("2006-01-02"), ct.Note)
		}
		return tw.Flush()
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
			if a.json {
				return a.printJSON(ct)
			}
			fmt.Fprintf(a.stdout, "Member %s is one of your contacts.\n", ct.MemberID)
			return nil
		}
		if err := c.RemoveContact(a.ctx, rest[0]); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if a.json {
			return a.printJSON(map[string]any{"removed": rest[0]})
		}
		fmt.Fprintf(a.stdout, "Member %s is no longer one of your contacts.\n", rest[0])
		return nil
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
		if a.json {
			return a.printJSON(map[string]any{"only_contacts": on})
		}
		if on {
			fmt.Fprintln(a.stdout, "Only your contacts may send you transfers, invoices and disclosure requests now.")
		} else {
			fmt.Fprintln(a.stdout, "Anyone may send you transfers, invoices and disclosure requests again.")
		}
		return nil
	}
	return &usageError{msg: fmt.Sprintf("contacts: unknown subcommand %q (list, add, remove, only-contacts)", sub), cmd: "contacts"}
}

// uploadedFile keeps the IDs of documents uploaded and not yet submitted,
// per member, beside the sessions.
func (a *app) uploadedFile(member string) (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	return filepath.Join(st.dir, "documents-"+member+".json"), nil
}

func (a *app) uploadedDocuments(member string) ([]string, error) {
	path, err := a.uploadedFile(member)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("%s is damaged (%w); name the documents with --documents", path, err)
	}
	return ids, nil
}

func (a *app) saveUploaded(member string, ids []string) error {
	path, err := a.uploadedFile(member)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, _ := json.Marshal(ids)
	return os.WriteFile(path, data, 0o600)
}

func cmdVerification(a *app, args []string) error {
	fs := a.flags("verification")
	docs := fs.String("documents", "", "comma-separated document `IDS` (submit; default: those uploaded since the last submit)")
	level := fs.String("level", "", "the `LEVEL` you ask for (submit; default: the registrar decides)")
	pos, err := a.parse(fs, "verification", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "upload":
		if len(rest) == 0 {
			return &usageError{msg: "verification upload: name at least one FILE", cmd: "verification"}
		}
		contents := make([][]byte, len(rest))
		for i, name := range rest {
			fi, err := os.Stat(name)
			if err != nil {
				return fmt.Errorf("verification upload: %w", err)
			}
			if fi.Size() > client.MaxDocumentSize {
				return &usageError{msg: fmt.Sprintf("verification upload: %s is larger than 5 MiB", name), cmd: "verification"}
			}
			if contents[i], err = os.ReadFile(name); err != nil {
				return fmt.Errorf("verification upload: %w", err)
			}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		saved, err := a.uploadedDocuments(cr.MemberID)
		if err != nil {
			return err
		}
		var out []*client.Document
		for i, content := range contents {
			d, err := c.UploadDocument(a.ctx, content)
			if err != nil {
				return a.explain(fmt.Errorf("%s: %w", rest[i], err), c.BaseURL(), cr.MemberID)
			}
			out = append(out, d)
			saved = append(saved, d.DocumentID)
			if err := a.saveUploaded(cr.MemberID, saved); err != nil {
				return err
			}
		}
		if a.json {
			return a.printJSON(out)
		}
		for i, d := range out {
			fmt.Fprintf(a.stdout, "%s: document %s (%s, %d bytes)\n", rest[i], d.DocumentID, d.ContentType, d.Size)
		}
		fmt.Fprintln(a.stdout, "Submit them with: coffer verification submit")
		return nil
	case "submit":
		if err := onlyArgs("verification submit", rest, 0, ""); err != nil {
			return err
		}
		var ids []string
		for _, id := range strings.Split(*docs, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		fromSaved := *docs == ""
		if fromSaved {
			if ids, err = a.uploadedDocuments(cr.MemberID); err != nil {
				return err
			}
		}
		v, err := c.SubmitVerification(a.ctx, ids, strings.TrimSpace(*level))
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if fromSaved {
			if err := a.saveUploaded(cr.MemberID, nil); err != nil {
				return err
			}
		}
		if a.json {
			return a.printJSON(v)
		}
		fmt.Fprintf(a.stdout, "Verification request %s is waiting for a registrar (%d documents).\n", v.RequestID, len(v.Documents))
		return nil
	case "status":
		if err := onlyArgs("verification status", rest, 0, ""); err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		st, err := c.VerificationStatus(a.ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if st.Requests == nil {
			st.Requests = []client.Verification{}
		}
		if a.json {
			return a.printJSON(st)
		}
		fmt.Fprintf(a.stdout, "Level: %s\n", st.Level)
		if l := st.Allows; l != nil {
			limits := "none"
			if l.DailyLimit != nil {
				var parts []string
				for cur, v := range l.DailyLimit {
					parts = append(parts, v+" "+cur)
				}
				slices.Sort(parts)
				limits = strings.Join(parts, ", ")
			}
			fmt.Fprintf(a.stdout, "Daily limit: %s; merchant: %s; issuer: %s\n", limits, yesNo(l.Merchant), yesNo(l.Issuer))
		}
		for _, v := range st.Requests {
			fmt.Fprintf(a.stdout, "Request %s: %s", v.RequestID, v.State)
			switch {
			case v.Level != "":
				fmt.Fprintf(a.stdout, " (level %s)", v.Level)
			case v.Reason != "":
				fmt.Fprintf(a.stdout, " (%s)", v.Reason)
			}
			fmt.Fprintln(a.stdout)
		}
		return nil
	}
	return &usageError{msg: fmt.Sprintf("verification: unknown subcommand %q (upload, submit, status)", sub), cmd: "verification"}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

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

func cmdAccount(a *app, args []string) error {
	fs := a.flags("account")
	out := fs.String("out", "", "write the export to `FILE` instead of standard output (export)")
	confirm := fs.String("confirm", "", "CONFIRMATION_ID:CODE answering the confirmation the server asked for (close)")
	pos, err := a.parse(fs, "account", args, 1, 1)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "export":
		if *confirm != "" {
			return &usageError{msg: "account export: --confirm goes with close", cmd: "account"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		data, err := c.ExportAccount(a.ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		if *out == "" {
			_, err := a.stdout.Write(append(data, '\n'))
			return err
		}
		if err := os.WriteFile(*out, data, 0o600); err != nil {
			return fmt.Errorf("account export: %w", err)
		}
		fmt.Fprintf(a.stderr, "Wrote everything stored about member %s to %s.\n", cr.MemberID, *out)
		return nil
	case "close":
		if *out != "" {
			return &usageError{msg: "account close: --out goes with export", cmd: "account"}
		}
		ctx, err := confirmed(a, "account", *confirm)
		if err != nil {
			return err
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		if err := c.CloseAccount(ctx); err != nil {
			if client.IsCode(err, "confirmation_required") {
				return sentence(err, "%s; repeat the command with --confirm CONFIRMATION_ID:CODE", clause(problemText(err)))
			}
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		// The session is gone on the server; forget it here too.
		if st, cfg, _, err := a.saved(); err == nil && cfg.Members[cr.MemberID] != nil {
			delete(cfg.Members, cr.MemberID)
			if cfg.Default == cr.MemberID {
				cfg.Default = ""
			}
			if err := st.save(cfg); err != nil {
				fmt.Fprintf(a.stderr, "coffer: %v\n", err)
			}
		}
		if a.json {
			return a.printJSON(map[string]any{"closed": cr.MemberID})
		}
		fmt.Fprintf(a.stdout, "Account %s is closed.\n", cr.MemberID)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("account: unknown subcommand %q (export, close)", pos[0]), cmd: "account"}
}
