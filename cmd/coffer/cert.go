package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/coffer-money/coffer/client"
)

const certHelp = `request makes a new ECDSA P-256 key on this machine (it never leaves it), sends a
certificate request for it with the saved session, and writes MEMBER-CERTIFICATE.key
(mode 0600) and MEMBER-CERTIFICATE.crt into --out (default: the config directory's
certs/). The certificate names the member; with it the keeper talks to the server's
HTTPS listener with no password and no session:

  coffer --server https://HOST:PORT --cert FILE.crt --cert-key FILE.key [--ca CA.crt] purses

curl works the same way (curl --cert FILE.crt --key FILE.key --cacert CA.crt …). A member
may hold several certificates (one per device); revoke takes effect at once, also on
connections already open.`

// certFlags defines the global flags for the client certificate.
func (a *app) certFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.certFile, "cert", a.certFile, "authenticate with the client certificate in `FILE` (PEM) instead of a session; needs --cert-key and an https:// server (env COFFER_CERT)")
	fs.StringVar(&a.certKeyFile, "cert-key", a.certKeyFile, "the client certificate's private key `FILE` (PEM) (env COFFER_CERT_KEY)")
	fs.StringVar(&a.caFile, "ca", a.caFile, "trust the server's HTTPS certificate when it chains to the CA in `FILE` (PEM) (env COFFER_CA)")
}

// tlsOptions returns the client options for --cert, --cert-key and --ca,
// or none when they are not given.
func (a *app) tlsOptions() ([]client.Option, error) {
	if a.certFile == "" && a.certKeyFile == "" && a.caFile == "" {
		return nil, nil
	}
	if (a.certFile == "") != (a.certKeyFile == "") {
		return nil, usagef("--cert and --cert-key go together")
	}
	if a.certKeyFile != "" && runtime.GOOS != "windows" {
		if fi, err := os.Stat(a.certKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(a.stderr, "coffer: warning: %s is readable by other users; run 'chmod 600 %s'\n", a.certKeyFile, a.certKeyFile)
		}
	}
	cfg, err := client.LoadTLSConfig(a.certFile, a.certKeyFile, a.caFile)
	if err != nil {
		return nil, err
	}
	return []client.Option{client.WithTLSConfig(cfg)}, nil
}

// certSession is session for --cert: a client that authenticates with the
// certificate and sends no token, acting for the member the certificate
// names.
func (a *app) certSession() (*client.Client, *credentials, error) {
	if (a.certFile == "") != (a.certKeyFile == "") {
		return nil, nil, usagef("--cert and --cert-key go together")
	}
	cfg, err := client.LoadTLSConfig(a.certFile, a.certKeyFile, "")
	if err != nil {
		return nil, nil, err
	}
	member, err := client.CertificateMemberID(cfg)
	if err != nil {
		return nil, nil, err
	}
	if a.as != "" && a.as != member {
		return nil, nil, usagef("--as %s does not match the certificate, which is member %s's", a.as, member)
	}
	if a.server == "" {
		return nil, nil, usagef("with --cert, name the server's HTTPS address: --server https://HOST:PORT (or COFFER_SERVER)")
	}
	u, err := client.ParseServerURL(a.server)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	if u.Scheme != "https" {
		return nil, nil, usagef("a client certificate works only over HTTPS: --server must start with https://, not %s://", u.Scheme)
	}
	c, err := a.newClient(a.server, "")
	if err != nil {
		return nil, nil, err
	}
	return c, &credentials{Server: c.BaseURL(), MemberID: member}, nil
}

func cmdCert(a *app, args []string) error {
	fs := a.flags("cert")
	out := fs.String("out", "", "write the key and certificate into `DIR` (default: the config directory's certs/)")
	pos, err := a.parse(fs, "cert", args, 1, 2)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "request" && len(pos) == 1:
		return certRequest(a, *out)
	case pos[0] == "list" && len(pos) == 1:
		return certList(a)
	case pos[0] == "revoke" && len(pos) == 2:
		return certRevoke(a, pos[1])
	}
	return &usageError{msg: "cert: want 'coffer cert request', 'coffer cert list' or 'coffer cert revoke CERTIFICATE_ID'", cmd: "cert"}
}

func certRequest(a *app, out string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if out == "" {
		st, err := a.store()
		if err != nil {
			return err
		}
		out = filepath.Join(st.dir, "certs")
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("cert request: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("cert request: make key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cert request: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	csr, err := client.NewCertificateRequest(key)
	if err != nil {
		return err
	}
	// The key is on disk before the request leaves, so no certificate is
	// ever issued for a key that could not be kept.
	tmp, err := writePrivate(out, keyPEM)
	if err != nil {
		return fmt.Errorf("cert request: save key: %w", err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	cert, err := c.RequestCertificate(a.ctx, csr)
	if err != nil {
		if client.IsCode(err, "forbidden") && a.certFile != "" {
			return sentence(err, "a certificate is issued only with a password session: run it without --cert, after 'coffer login %s'", cr.MemberID)
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	base := filepath.Join(out, cr.MemberID+"-"+cert.CertificateID)
	keyFile, certFile := base+".key", base+".crt"
	if err := os.WriteFile(certFile, []byte(cert.Certificate), 0o644); err != nil {
		return fmt.Errorf("cert request: certificate %s was issued but could not be saved: %w (revoke it with 'coffer cert revoke %s')", cert.CertificateID, err, cert.CertificateID)
	}
	if err := os.Rename(tmp, keyFile); err != nil {
		return fmt.Errorf("cert request: certificate %s was issued but its key could not be saved: %w (revoke it with 'coffer cert revoke %s')", cert.CertificateID, err, cert.CertificateID)
	}
	return a.show(struct {
		client.Certificate
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
	}{*cert, certFile, keyFile}, func() error {
		tw := a.table()
		fmt.Fprintf(tw, "Certificate:\t%s for member %s, valid until %s\n", cert.CertificateID, cr.MemberID, humanTime(cert.NotAfter))
		fmt.Fprintf(tw, "Certificate file:\t%s\n", certFile)
		fmt.Fprintf(tw, "Key file:\t%s (mode 0600; it never left this machine)\n", keyFile)
		fmt.Fprintf(tw, "SHA-256:\t%s\n", cert.Fingerprint)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Use it with: coffer --server https://HOST:PORT --cert %s --cert-key %s COMMAND\n", certFile, keyFile)
		return nil
	})
}

// writePrivate writes data to a new temporary file of mode 0600 in dir and
// returns its name.
func writePrivate(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".key-*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func certList(a *app) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	list, err := c.Certificates(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.show(map[string]any{"certificates": nonNil(list)}, func() error {
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "No certificates yet. Get one with 'coffer cert request'.")
			return nil
		}
		tw := a.table()
		fmt.Fprintln(tw, "\tCERTIFICATE\tSTATUS\tKEY\tCREATED\tVALID UNTIL\tSHA-256")
		current := false
		for _, x := range list {
			mark := ""
			if x.Current {
				mark, current = "*", true
			}
			fp := x.Fingerprint
			if len(fp) > 16 {
				fp = fp[:16] + "…"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, x.CertificateID, oneLine(x.Status), oneLine(x.KeyType),
				humanTime(x.CreatedAt), humanTime(x.NotAfter), fp)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if current {
			fmt.Fprintln(a.stdout, "(* the certificate this request was made with)")
		}
		return nil
	})
}

func certRevoke(a *app, id string) error {
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	if err := c.RevokeCertificate(a.ctx, id); err != nil {
		var ue *url.Error
		if a.certFile != "" && errors.As(err, &ue) {
			// Revoking the certificate in use closes this very
			// connection, which may race the answer.
			return sentence(err, "the connection closed while revoking %s; run 'coffer cert list' with a session to check it is revoked", id)
		}
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	return a.showf(map[string]string{"certificate_id": id, "status": "revoked"}, "Certificate %s revoked.\n", id)
}
