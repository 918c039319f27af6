package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/coffer-money/coffer/mail"
)

// mailOptions are the e-mail flags of `cofferd serve`.
type mailOptions struct {
	smtpAddr, smtpUser, smtpPasswordFile, from string
	smtpInsecure                               bool
	queue                                      int
}

func (o *mailOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.smtpAddr, "smtp-addr", "", "SMTP server host:port for e-mail (default: append e-mail to DATA/outbox/mail.log)")
	fs.StringVar(&o.smtpUser, "smtp-user", "", "SMTP user name (PLAIN authentication after STARTTLS)")
	fs.StringVar(&o.smtpPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	fs.BoolVar(&o.smtpInsecure, "smtp-insecure-no-tls", false, "allow an SMTP server without STARTTLS (a relay on loopback)")
	fs.StringVar(&o.from, "mail-from", "coffer@localhost", "sender address of coffer's e-mail")
	fs.IntVar(&o.queue, "mail-queue", 1000, "e-mails held for sending; beyond that they are dropped and logged")
}

// queue builds the mail adapter the flags name and a queue over it.
// observe is told of each message's outcome (mail.NewQueueObserved).
func (o *mailOptions) start(data string, log *slog.Logger, observe func(outcome string)) (*mail.Queue, error) {
	var s mail.Sender
	if o.smtpAddr == "" {
		s = &mail.Outbox{Path: mail.OutboxPath(data), From: o.from}
		log.Info("e-mail goes to the development outbox", "path", mail.OutboxPath(data))
	} else {
		cfg := mail.SMTPConfig{Addr: o.smtpAddr, Username: o.smtpUser, From: o.from, InsecureNoTLS: o.smtpInsecure}
		if o.smtpPasswordFile != "" {
			b, err := os.ReadFile(o.smtpPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("serve: --smtp-password-file: %w", err)
			}
			cfg.Password = strings.TrimRight(string(b), "\r\n")
		}
		s = mail.NewSMTP(cfg)
	}
	if o.queue <= 0 {
		o.queue = 1000
	}
	return mail.NewQueueObserved(s, log, o.queue, observe), nil
}
