package main

import (
	"fmt"
	"io"
	"regexp"
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
		return a.show(p, func() error {
			fmt.Fprintln(a.stdout, "Saved.")
			return a.printProfile(p)
		})
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
		return a.show(got, func() error {
			return a.tabulate(func(tw io.Writer) {
				for _, f := range client.ProfileFields {
					fmt.Fprintf(tw, "%s\t%s\n", f, orNobody(got[f]))
				}
			})
		})
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
	return a.show(p, func() error {
		return a.tabulate(func(tw io.Writer) {
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
		})
	})
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
		return a.show(v, func() error {
			return a.tabulate(func(tw io.Writer) {
				fmt.Fprintf(tw, "Member\t%s\nLevel\t%s\nRegistered\t%s\n", v.MemberID, v.Level, v.Registered)
				for _, f := range client.ProfileFields {
					if val, ok := v.Fields.Values[f]; ok {
						fmt.Fprintf(tw, "%s\t%s\n", f, val)
					}
				}
				if len(v.Fields.LinkedMemberIDs) > 0 {
					fmt.Fprintf(tw, "%s\t%s\n", client.FieldLinkedIDs, strings.Join(v.Fields.LinkedMemberIDs, ", "))
				}
			})
		})
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
		return a.show(map[string]any{"results": res}, func() error {
			return a.tabulate(func(tw io.Writer) {
				for _, f := range client.ProfileFields {
					if r, ok := res[f]; ok {
						fmt.Fprintf(tw, "%s\t%s\n", f, r)
					}
				}
			})
		})
	}
	return &usageError{msg: fmt.Sprintf("member: unknown subcommand %q (show, check)", sub), cmd: "member"}
}
