package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/coffer-money/coffer/client"
)

func cmdRegister(a *app, args []string) error {
	fs := a.flags("register")
	email := fs.String("email", "", "an e-mail `address` to log in with besides the member ID")
	phone := fs.String("phone", "", "a phone `number` to log in with besides the member ID")
	if _, err := a.parse(fs, "register", args, 0, 0); err != nil {
		return err
	}
	server := a.serverFor(nil)
	c, err := a.newClient(server, "")
	if err != nil {
		return err
	}
	pw, err := a.readNewPassword()
	if err != nil {
		return err
	}
	m, err := c.Register(a.ctx, client.RegisterRequest{Password: pw, Email: *email, Phone: *phone})
	if err != nil {
		return a.explain(err, server, "")
	}
	if err := a.showf(m, "Your member ID: %s — keep it. You log in with it and your password.\n", m.MemberID); err != nil {
		return err
	}

	auth, err := a.logIn(c, server, m.MemberID, pw)
	if err != nil {
		return fmt.Errorf("member %s is registered, but logging in failed: %w; run 'coffer login %s'", m.MemberID, err, m.MemberID)
	}
	if !a.json {
		fmt.Fprintf(a.stdout, "Logged in as %s; the session is saved.\n", auth.MemberID)
	}
	return nil
}

func cmdLogin(a *app, args []string) error {
	fs := a.flags("login")
	pos, err := a.parse(fs, "login", args, 1, 1)
	if err != nil {
		return err
	}
	login := strings.TrimSpace(pos[0])
	server := a.serverFor(nil)
	if a.server == "" {
		// Logging in again as a saved member goes to that member's server.
		if st, err := a.store(); err == nil {
			if cfg, err := st.load(); err == nil && cfg.Members[login] != nil {
				server = a.serverFor(cfg.Members[login])
			}
		}
	}
	c, err := a.newClient(server, "")
	if err != nil {
		return err
	}
	pw, err := a.readSecret("COFFER_PASSWORD", "Password for "+login+": ", "password")
	if err != nil {
		return err
	}
	auth, err := a.logIn(c, server, login, pw)
	if err != nil {
		return err
	}
	return a.showf(auth, "Logged in as %s at %s; the session is saved.\n", auth.MemberID, c.BaseURL())
}

// logIn opens a session, answers a second-factor challenge if the server
// poses one, and saves the session as the default.
func (a *app) logIn(c *client.Client, server, login, password string) (*client.Auth, error) {
	auth, err := c.Login(a.ctx, login, password)
	if client.IsCode(err, "unauthorized") {
		var e *client.Error
		errors.As(err, &e)
		if e.Detail != "" {
			return nil, sentence(err, "login refused: %s", clause(e.Detail))
		}
		return nil, sentence(err, "login refused: wrong login or password")
	}
	if err != nil {
		return nil, a.explain(err, server, "")
	}
	if auth.Pending() {
		how := strings.Join(auth.Methods, " or ")
		if how == "" {
			how = "your second factor"
		}
		code, err := a.readSecret("COFFER_CODE", "One-time code ("+how+"): ", "one-time code")
		if err != nil {
			return nil, err
		}
		if auth, err = c.ConfirmLogin(a.ctx, auth.ChallengeID, strings.TrimSpace(code)); err != nil {
			if client.IsCode(err, "unauthorized") || client.IsCode(err, "confirmation_failed") || client.IsCode(err, "confirmation_void") {
				return nil, sentence(err, "login refused: the one-time code is wrong or has expired")
			}
			return nil, a.explain(err, server, "")
		}
	}

	st, err := a.store()
	if err != nil {
		return nil, err
	}
	cfg, err := st.load()
	if err != nil {
		return nil, err
	}
	cfg.Members[auth.MemberID] = &credentials{
		Server: c.BaseURL(), MemberID: auth.MemberID, Token: auth.Token, ExpiresAt: auth.ExpiresAt,
	}
	cfg.Default = auth.MemberID
	if err := st.save(cfg); err != nil {
		return nil, err
	}
	return auth, nil
}

func cmdLogout(a *app, args []string) error {
	fs := a.flags("logout")
	if _, err := a.parse(fs, "logout", args, 0, 0); err != nil {
		return err
	}
	st, cfg, cr, err := a.saved()
	if err != nil {
		return err
	}
	server := a.serverFor(cr)
	c, err := a.newClient(server, cr.Token)
	if err != nil {
		return err
	}
	// A session the server no longer knows is as good as ended; any
	// other failure keeps the token so that logout can be tried again.
	if err := c.Logout(a.ctx); err != nil && !client.IsCode(err, "unauthorized") {
		return a.explain(err, server, cr.MemberID)
	}
	delete(cfg.Members, cr.MemberID)
	if cfg.Default == cr.MemberID {
		cfg.Default = ""
	}
	if err := st.save(cfg); err != nil {
		return err
	}
	return a.showf(map[string]string{"member_id": cr.MemberID, "status": "logged_out"}, "Logged out %s.\n", cr.MemberID)
}

func cmdWhoami(a *app, args []string) error {
	fs := a.flags("whoami")
	if _, err := a.parse(fs, "whoami", args, 0, 0); err != nil {
		return err
	}
	_, cfg, cr, err := a.saved()
	if err != nil {
		return err
	}
	return a.show(struct {
		MemberID  string `json:"member_id"`
		Server    string `json:"server"`
		ExpiresAt any    `json:"expires_at,omitempty"`
	}{cr.MemberID, a.serverFor(cr), nonZero(cr.ExpiresAt)}, func() error {
		state := "saved"
		if !cr.ExpiresAt.IsZero() {
			// The server extends a session while it is used, so the expiry
			// from the login is only the earliest it may end.
			state = "saved (it ends at " + humanTime(cr.ExpiresAt) + " if not used before then)"
			if !a.now().Before(cr.ExpiresAt) {
				state = "saved; it may have ended at " + humanTime(cr.ExpiresAt) + " (if unused since), then run 'coffer login " + cr.MemberID + "'"
			}
		}
		tw := a.table()
		fmt.Fprintf(tw, "Member ID:\t%s\n", cr.MemberID)
		fmt.Fprintf(tw, "Server:\t%s\n", a.serverFor(cr))
		fmt.Fprintf(tw, "Session:\t%s\n", state)
		var others []string
		for _, id := range cfg.memberIDs() {
			if id != cr.MemberID {
				others = append(others, id)
			}
		}
		if len(others) > 0 {
			fmt.Fprintf(tw, "Also saved:\t%s (pick with --as)\n", strings.Join(others, ", "))
		}
		return tw.Flush()
	})
}

func cmdSessions(a *app, args []string) error {
	fs := a.flags("sessions")
	pos, err := a.parse(fs, "sessions", args, 0, 2)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		if pos[0] != "revoke" || len(pos) != 2 {
			return &usageError{msg: "sessions: want 'coffer sessions' or 'coffer sessions revoke SESSION_ID'", cmd: "sessions"}
		}
		return revokeSession(a, pos[1])
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Sessions(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(map[string]any{"sessions": nonNil(list)}, func() error {
		tw := a.table()
		fmt.Fprintln(tw, "\tSESSION\tIP\tCREATED\tLAST USED\tEXPIRES\tUSER AGENT")
		for _, s := range list {
			mark := ""
			if s.Current {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, s.SessionID, s.IP,
				humanTime(s.CreatedAt), humanTime(s.LastUsedAt), humanTime(s.ExpiresAt), oneLine(s.UserAgent))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "(* this session)")
		return nil
	})
}

func revokeSession(a *app, id string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if err := c.RevokeSession(a.ctx, id); err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(map[string]string{"session_id": id, "status": "revoked"}, "Session %s revoked.\n", id)
}

const accountHelp = `  account export [--out FILE]     everything the server stores about you, as JSON
  account close [--confirm ID:CODE]
                                  close the account for good: your data is erased, sessions
                                  end, and your member ID can no longer log in. Every purse
                                  must be empty first. Needs a password session; with a second
                                  factor, confirm with --confirm as the server's answer tells.`

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
		return a.showf(map[string]any{"closed": cr.MemberID}, "Account %s is closed.\n", cr.MemberID)
	}
	return &usageError{msg: fmt.Sprintf("account: unknown subcommand %q (export, close)", pos[0]), cmd: "account"}
}
