package main

import (
	"errors"
	"strings"

	"github.com/coffer-money/coffer/client"
)

const passwdHelp = `The current password is read from COFFER_PASSWORD, the new one from COFFER_NEW_PASSWORD;
without them both are asked for at the terminal (the new one twice) or read as two lines of
standard input, the current one first. Only a saved session may change the password (not
--key or --cert). Every other session of the member ends; this one stays.`

func cmdPasswd(a *app, args []string) error {
	fs := a.flags("passwd")
	if _, err := a.parse(fs, "passwd", args, 0, 0); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	current, err := a.readSecret("COFFER_PASSWORD", "Current password: ", "current password")
	if err != nil {
		return err
	}
	next, err := a.readSecret("COFFER_NEW_PASSWORD", "New password: ", "new password")
	if err != nil {
		return err
	}
	if next == "" {
		return errors.New("the new password is empty; nothing was changed")
	}
	if _, tty := a.terminal(); tty && a.env("COFFER_NEW_PASSWORD") == "" {
		again, err := a.readSecret("COFFER_NEW_PASSWORD", "Type the new password again: ", "new password")
		if err != nil {
			return err
		}
		if again != next {
			return errors.New("the two new passwords differ; nothing was changed")
		}
	}
	if err := c.ChangePassword(a.ctx, current, next); err != nil {
		// A wrong current password and an ended session are both
		// unauthorized; the server's detail tells them apart.
		var e *client.Error
		if errors.As(err, &e) && e.Code == "unauthorized" && strings.Contains(e.Detail, "current password") {
			return sentence(err, "the current password is wrong; the password was not changed")
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(map[string]string{"member_id": cr.MemberID, "status": "password_changed"}, "Password changed; other sessions were ended.\n")
}
