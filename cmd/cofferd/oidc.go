package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/oidcprov"
)

// oidcOptions are the flags of "Sign in with coffer".
type oidcOptions struct {
	issuer    string
	keyMaxAge time.Duration
}

func (o *oidcOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.issuer, "oidc-issuer", "", "issuer of \"Sign in with coffer\" when it differs from --public-url (https, or http on a loopback host); default: --public-url, never a request's Host")
	fs.DurationVar(&o.keyMaxAge, "oidc-key-max-age", 30*24*time.Hour, "rotate the OpenID Connect signing key when it is this old")
}

// newProvider builds the OpenID Connect provider on the store; its
// signing keys are sealed with the secrets key. The issuer is
// --oidc-issuer, else publicURL (the server's --public-url).
func (o *oidcOptions) newProvider(db oidcprov.Store, secretsKey []byte, log *slog.Logger, now func() time.Time, publicURL string) (*oidcprov.Provider, error) {
	issuer := publicURL
	if o.issuer != "" {
		var err error
		if issuer, err = checkPublicURL("--oidc-issuer", o.issuer); err != nil {
			return nil, err
		}
	}
	return oidcprov.New(db, log, oidcprov.Config{Issuer: issuer, SecretsKey: secretsKey, KeyMaxAge: o.keyMaxAge, Now: now})
}

// sweepOIDC deletes expired authorization requests and tokens.
func sweepOIDC(ctx context.Context, ps coffer.OIDCStore, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := ps.DeleteExpiredOIDC(ctx, time.Now()); err != nil {
				log.Warn("sweep oidc", "err", err)
			}
		}
	}
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runAdminOIDC runs `cofferd admin oidc-client add|list|remove` and
// `cofferd admin oidc-key rotate`.
func runAdminOIDC(ctx context.Context, cmd string, fs *flag.FlagSet, data, dbURL *string, args []string, stdout io.Writer) error {
	var (
		name   string
		uris   stringList
		public bool
		id     string
	)
	switch cmd {
	case "oidc-client add":
		fs.StringVar(&name, "name", "", "the site's name, shown to members on the consent screen")
		fs.Var(&uris, "redirect-uri", "a redirect URI of the site (repeat for more)")
		fs.BoolVar(&public, "public", false, "a public client (browser or mobile app): no secret, PKCE required")
	case "oidc-client remove":
		fs.StringVar(&id, "client-id", "", "the client to remove")
	case "oidc-client list", "oidc-key rotate":
	default:
		return fmt.Errorf("unknown command %q (oidc-client add|list|remove, oidc-key rotate)", cmd)
	}
	if _, err := parseFlags(ctx, fs, args, stdout); err != nil {
		return err
	}
	db, err := openStore(ctx, *data, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := loadSecretsKey(*data)
	if err != nil {
		return err
	}
	o := oidcOptions{keyMaxAge: 30 * 24 * time.Hour}
	// Registering clients and rotating keys put no issuer anywhere; the
	// serving process names the real one.
	p, err := o.newProvider(db, key, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, "http://localhost")
	if err != nil {
		return err
	}
	switch cmd {
	case "oidc-client add":
		c, secret, err := p.NewClient(ctx, name, uris, public)
		if err != nil {
			return errors.New(coffer.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown once: only a hash is kept)\n", secret)
		}
		return nil
	case "oidc-client list":
		list, err := db.OIDCClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tREDIRECT URIS")
		for _, c := range list {
			kind := "confidential"
			if c.Public {
				kind = "public"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	case "oidc-client remove":
		if err := db.DeleteOIDCClient(ctx, id); err != nil {
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				return fmt.Errorf("there is no client %q", id)
			}
			return err
		}
		fmt.Fprintf(stdout, "removed client %s with its tokens and consents\n", id)
		return nil
	}
	kid, err := p.RotateKey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s; the previous keys stay published until their tokens expire\n", kid)
	return nil
}
