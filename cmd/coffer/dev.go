package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/coffer-money/coffer/sms"
)

func cmdDev(a *app, args []string) error {
	fs := a.flags("dev")
	data := fs.String("data", "./coffer-data", "the server's data directory")
	to := fs.String("to", "", "only messages to this phone number")
	pos, err := a.parse(fs, "dev", args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "sms" {
		return &usageError{msg: fmt.Sprintf("dev: unknown subcommand %q", pos[0]), cmd: "dev"}
	}
	m, err := sms.Last(filepath.Join(*data, sms.OutboxFile), *to)
	if errors.Is(err, sms.ErrEmpty) {
		return fmt.Errorf("no SMS in the outbox of %s", *data)
	} else if err != nil {
		return err
	}
	return a.showf(m, "%s to %s: %s\n", m.At.Format("2006-01-02T15:04:05Z"), m.To, m.Text)
}
