package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/mail"
)

const securityHelp = `  security ip-ranges                     list the allowed IP ranges (none: any address)
  security ip-ranges set CIDR...         allow only these ranges (e.g. 203.0.113.0/24 2001:db8::/32)
  security ip-ranges clear               allow any address again
  security unblock --member ID --code C  allow this address with the code e-mailed after a refused login
  security confirmation                  show when a second factor is asked for
  security confirmation set KEY=VALUE... login=password|second_factor transfers=always|above|new_payee|never
                                         threshold=AMOUNT exempt=PURSE,PURSE confirm_signed=on|off
  security phone add +E164               add a phone for SMS codes (a code is sent to it)
  security phone verify CODE             activate it with that code
  security recovery-codes                replace the recovery codes with a new set, shown once
  security new-device on|off             ask a one-time code for a login from an address never used before
  security notifications [--login on|off] [--incoming-payment on|off] [--security on|off]
  security log [--limit N]               the security log, newest first
A change the server asks to confirm is repeated with --confirm CONFIRMATION_ID:CODE.`

// confirmed returns the command's context carrying the confirmation given
// with --confirm CONFIRMATION_ID:CODE, for a change the server asked to
// confirm.
func confirmed(a *app, cmd, confirm string) (context.Context, error) {
	if confirm == "" {
		return a.ctx, nil
	}
	id, code, ok := strings.Cut(confirm, ":")
	if !ok {
		return nil, &usageError{msg: cmd + ": --confirm wants CONFIRMATION_ID:CODE", cmd: cmd}
	}
	return client.WithConfirmation(a.ctx, id, code), nil
}

// onOff is a flag.Func that sets *dst from on or off (or true, yes, 1 and
// their opposites); a nil *dst means the flag was not given.
func onOff(dst **bool) func(string) error {
	return func(s string) error {
		switch strings.ToLower(s) {
		case "on", "true", "yes", "1":
			v := true
			*dst = &v
		case "off", "false", "no", "0":
			v := false
			*dst = &v
		default:
			return fmt.Errorf("want on or off, not %q", s)
		}
		return nil
	}
}

func cmdSecurity(a *app, args []string) error {
	fs := a.flags("security")
	confirm := fs.String("confirm", "", "CONFIRMATION_ID:CODE answering a confirmation the server asked for")
	member := fs.String("member", "", "member ID (unblock)")
	code := fs.String("code", "", "unblock code from the e-mail (unblock)")
	limit := fs.Int("limit", 50, "events to show (log)")
	var login, incoming, security *bool
	fs.Func("login", "e-mail on a login from a new address: on or off (notifications)", onOff(&login))
	fs.Func("incoming-payment", "e-mail on incoming payments: on or off (notifications)", onOff(&incoming))
	fs.Func("security", "e-mail on security events: on or off (notifications)", onOff(&security))
	pos, err := a.parse(fs, "security", args, 1, -1)
	if err != nil {
		return err
	}
	ctx, err := confirmed(a, "security", *confirm)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "ip-ranges":
		return securityIPRanges(a, ctx, pos[1:])
	case "unblock":
		if *member == "" || *code == "" {
			return &usageError{msg: "security unblock: --member and --code are required", cmd: "security"}
		}
		c, err := a.optionalSession()
		if err != nil {
			return err
		}
		added, err := c.Unblock(a.ctx, *member, *code)
		if err != nil {
			return a.explain(err, c.BaseURL(), *member)
		}
		fmt.Fprintf(a.stdout, "Allowed %s.\n", added)
		return nil
	case "confirmation":
		return securityPolicy(a, ctx, pos[1:])
	case "phone":
		return securityPhone(a, ctx, pos[1:])
	case "recovery-codes":
		if len(pos) != 1 {
			return &usageError{msg: "security recovery-codes takes no argument", cmd: "security"}
		}
		c, cr, err := a.session()
		if err != nil {
			return err
		}
		codes, err := c.NewRecoveryCodes(ctx)
		if err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		return printRecoveryCodes(a, codes)
	case "new-device":
		return securityNewDevice(a, ctx, pos[1:])
	case "notifications":
		return securityNotifications(a, ctx, client.NotificationsUpdate{Login: login, IncomingPayment: incoming, Security: security})
	case "log":
		return securityLog(a, *limit)
	}
	return &usageError{msg: fmt.Sprintf("security: unknown subcommand %q", pos[0]), cmd: "security"}
}

func securityNewDevice(a *app, ctx context.Context, args []string) error {
	if len(args) != 1 {
		return &usageError{msg: "security new-device: say on or off", cmd: "security"}
	}
	var on *bool
	if err := onOff(&on)(args[0]); err != nil {
		return &usageError{msg: "security new-device: " + err.Error(), cmd: "security"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if err := c.SetNewDeviceConfirmation(ctx, *on); err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	fmt.Fprintf(a.stdout, "New-device confirmation is %s.\n", map[bool]string{true: "on", false: "off"}[*on])
	return nil
}

// securityNotifications shows the e-mail notifications, or changes those
// upd names first.
func securityNotifications(a *app, ctx context.Context, upd client.NotificationsUpdate) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	var n *client.Notifications
	if upd.Login == nil && upd.IncomingPayment == nil && upd.Security == nil {
		n, err = c.Notifications(a.ctx)
	} else {
		n, err = c.SetNotifications(ctx, upd)
	}
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	word := map[bool]string{true: "on", false: "off"}
	return a.showf(n, "login from a new address  %s\nincoming payments         %s\nsecurity events           %s\n",
		word[n.Login], word[n.IncomingPayment], word[n.Security])
}

func securityLog(a *app, limit int) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	events, _, err := c.SecurityEvents(a.ctx, limit, "")
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(events, func() error {
		return a.tabulate(func(tw io.Writer) {
			fmt.Fprintln(tw, "TIME\tEVENT\tDETAIL")
			for _, e := range events {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", humanTime(e.At), e.Kind, oneLine(string(e.Detail)))
			}
		})
	})
}

func securityIPRanges(a *app, ctx context.Context, args []string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	var r *client.IPRanges
	switch {
	case len(args) == 0:
		r, err = c.IPRanges(a.ctx)
	case args[0] == "clear" && len(args) == 1:
		r, err = c.SetIPRanges(ctx, nil)
	case args[0] == "set" && len(args) > 1:
		r, err = c.SetIPRanges(ctx, args[1:])
	default:
		return &usageError{msg: "security ip-ranges: use no argument, 'set CIDR...' or 'clear'", cmd: "security"}
	}
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(r, func() error {
		if len(r.IPRanges) == 0 {
			fmt.Fprintln(a.stdout, "Any address may be used (no IP ranges set).")
		}
		for _, p := range r.IPRanges {
			fmt.Fprintln(a.stdout, p)
		}
		if r.YourIP != "" {
			fmt.Fprintf(a.stdout, "(the server sees you at %s)\n", r.YourIP)
		}
		return nil
	})
}

// cmdPurseLimits is "coffer purse limits PURSE [--per-transfer A]
// [--per-day A] [--per-month A]"; "none" removes a limit, a flag left out
// keeps it.
func cmdPurseLimits(a *app, args []string) error {
	fs := a.flags("purse")
	confirm := fs.String("confirm", "", "CONFIRMATION_ID:CODE answering a confirmation the server asked for (raising a limit)")
	var set [3]*string
	for i, name := range []string{"per-transfer", "per-day", "per-month"} {
		fs.Func(name, "limit as a decimal amount, or none", func(s string) error {
			set[i] = &s
			return nil
		})
	}
	pos, err := a.parse(fs, "purse", args, 1, 1)
	if err != nil {
		return err
	}
	ctx, err := confirmed(a, "purse", *confirm)
	if err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	l, err := c.PurseLimits(a.ctx, pos[0])
	if err == nil && (set[0] != nil || set[1] != nil || set[2] != nil) {
		u := client.LimitsUpdate{PerTransfer: l.PerTransfer, PerDay: l.PerDay, PerMonth: l.PerMonth}
		for i, dst := range []**string{&u.PerTransfer, &u.PerDay, &u.PerMonth} {
			if set[i] == nil {
				continue
			}
			if strings.EqualFold(*set[i], "none") {
				*dst = nil
			} else {
				*dst = set[i]
			}
		}
		l, err = c.SetPurseLimits(ctx, pos[0], u)
	}
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(l, func() error {
		show := func(v *string) string {
			if v == nil {
				return "none"
			}
			return *v + " " + l.Currency
		}
		fmt.Fprintf(a.stdout, "purse %s\nper transfer  %s\nper day       %s   (spent today %s, remaining %s)\nper month     %s   (spent this month %s, remaining %s)\n",
			l.Purse, show(l.PerTransfer), show(l.PerDay), l.SpentToday, show(l.RemainingToday),
			show(l.PerMonth), l.SpentThisMonth, show(l.RemainingThisMonth))
		return nil
	})
}

// devMail is "coffer dev mail --data DIR [-n N]": the last messages of the
// development outbox of a server running on DIR.
func devMail(a *app, args []string) error {
	fs := a.flags("dev")
	data := fs.String("data", "./coffer-data", "the server's data directory")
	n := fs.Int("n", 1, "how many of the last messages to show")
	if _, err := a.parse(fs, "dev", args, 0, 0); err != nil {
		return err
	}
	msgs, err := mail.ReadOutbox(mail.OutboxPath(*data))
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("the outbox %s is empty", mail.OutboxPath(*data))
	}
	for _, m := range msgs[max(0, len(msgs)-*n):] {
		fmt.Fprint(a.stdout, strings.TrimLeft(m, "\n"))
	}
	return nil
}

// cmdDevMail adds "coffer dev mail" to the dev tools.
func cmdDevMail(a *app, args []string) error {
	if len(args) > 0 && args[0] == "mail" {
		return devMail(a, args[1:])
	}
	return cmdDev(a, args)
}

func printRecoveryCodes(a *app, codes []string) error {
	return a.show(map[string]any{"recovery_codes": codes}, func() error {
		if len(codes) == 0 {
			fmt.Fprintln(a.stdout, "Done.")
			return nil
		}
		fmt.Fprintln(a.stdout, "Recovery codes (each works once; store them offline, they are not shown again):")
		for _, c := range codes {
			fmt.Fprintln(a.stdout, "  "+c)
		}
		return nil
	})
}

func securityPhone(a *app, ctx context.Context, args []string) error {
	if len(args) != 2 || (args[0] != "add" && args[0] != "verify") {
		return &usageError{msg: "security phone: use 'add +E164' or 'verify CODE'", cmd: "security"}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if args[0] == "add" {
		if err := c.AddPhone(ctx, args[1]); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
		fmt.Fprintln(a.stdout, "A code was sent to the phone; finish with: coffer security phone verify CODE")
		return nil
	}
	codes, err := c.VerifyPhone(a.ctx, args[1])
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	fmt.Fprintln(a.stdout, "The phone is verified.")
	return printRecoveryCodes(a, codes)
}

// securityPolicy shows or changes the confirmation policy. Changes are
// KEY=VALUE words, so that they do not clash with the command's flags.
func securityPolicy(a *app, ctx context.Context, args []string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	p, err := c.Policy(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if len(args) > 0 {
		if args[0] != "set" || len(args) == 1 {
			return &usageError{msg: "security confirmation: use no argument, or 'set KEY=VALUE...'", cmd: "security"}
		}
		for _, kv := range args[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return &usageError{msg: fmt.Sprintf("security confirmation set: %q is not KEY=VALUE", kv), cmd: "security"}
			}
			switch k {
			case "login":
				p.Login = v
			case "transfers":
				p.Transfers = v
			case "threshold":
				p.Threshold = v
			case "exempt":
				p.ExemptPayees = []string{}
				for _, x := range strings.Split(v, ",") {
					if x = strings.TrimSpace(x); x != "" {
						p.ExemptPayees = append(p.ExemptPayees, x)
					}
				}
			case "confirm_signed":
				switch strings.ToLower(v) {
				case "on", "true", "yes", "1":
					p.ConfirmSigned = true
				case "off", "false", "no", "0":
					p.ConfirmSigned = false
				default:
					return &usageError{msg: "security confirmation set: confirm_signed is on or off", cmd: "security"}
				}
			default:
				return &usageError{msg: fmt.Sprintf("security confirmation set: unknown key %q", k), cmd: "security"}
			}
		}
		if p, err = c.SetPolicy(ctx, p); err != nil {
			return a.explain(err, c.BaseURL(), cr.MemberID)
		}
	}
	return a.show(p, func() error {
		fmt.Fprintf(a.stdout, "login              %s\ntransfers          %s", p.Login, p.Transfers)
		if p.Threshold != "" {
			fmt.Fprintf(a.stdout, " (above %s)", p.Threshold)
		}
		fmt.Fprintf(a.stdout, "\nexempt payees      %s\nconfirm signed     %v\n", strings.Join(p.ExemptPayees, ", "), p.ConfirmSigned)
		return nil
	})
}
