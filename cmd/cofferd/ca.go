package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/httpapi"
)

const caUsage = `Usage:
  cofferd admin ca init [--data DIR] [--key-type ecdsa-p256|ed25519] [--name CN] [--validity D]
  cofferd admin ca init [--data DIR] --cert FILE --key FILE      import an existing CA
  cofferd admin ca server-cert [--data DIR] --host H [--host H…] --out-cert FILE --out-key FILE [--validity D]

The CA lives in DIR/ca: ca.crt (the certificate) and ca.key (its private key,
mode 0600, unencrypted so that cofferd serve can sign with it). init never
overwrites an existing CA.
`

// caDir is where a data directory keeps the operator's CA.
func caDir(data string) string { return filepath.Join(data, caDirName) }

// caDirName is the name of that directory.
const caDirName = "ca"

// hostList is a repeatable flag that also takes comma-separated values.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*h = append(*h, s)
		}
	}
	return nil
}

func runAdminCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, caUsage)
		return exitCode(2)
	}
	fset := flag.NewFlagSet("cofferd admin ca "+args[0], flag.ContinueOnError)
	fset.SetOutput(stderr)
	data := fset.String("data", "./coffer-data", "data directory")
	dbURL := fset.String("db", "", dbFlagHelp)
	switch args[0] {
	case "init":
		certFile := fset.String("cert", "", "import this CA certificate (PEM) instead of making one")
		keyFile := fset.String("key", "", "the imported CA's private key (PEM, unencrypted)")
		keyType := fset.String("key-type", ca.ECDSAP256, "key type of a new CA: ecdsa-p256 or ed25519")
		name := fset.String("name", "coffer member CA", "common name of a new CA")
		validity := fset.Duration("validity", ca.DefaultValidity, "how long a new CA is valid")
		if _, err := parseFlags(ctx, fset, args[1:], stdout); err != nil {
			return err
		}
		if fset.NArg() > 0 {
			return fmt.Errorf("ca init: unexpected argument %q", fset.Arg(0))
		}
		if (*certFile == "") != (*keyFile == "") {
			return errors.New("ca init: --cert and --key go together")
		}
		dir := caDir(*data)
		for _, f := range []string{ca.CertFile, ca.KeyFile} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("ca init: %s already holds a certificate authority; refusing to overwrite it", dir)
			}
		}
		now := time.Now()
		var auth *ca.Authority
		how := "created"
		if *certFile != "" {
			certPEM, err := os.ReadFile(*certFile)
			if err != nil {
				return fmt.Errorf("ca init: %w", err)
			}
			keyPEM, err := os.ReadFile(*keyFile)
			if err != nil {
				return fmt.Errorf("ca init: %w", err)
			}
			if auth, err = ca.Import(certPEM, keyPEM, now); err != nil {
				return fmt.Errorf("ca init: %w", err)
			}
			how = "imported"
		} else {
			if *validity < 24*time.Hour {
				return errors.New("ca init: --validity must be at least 24h")
			}
			var err error
			if auth, err = ca.New(*keyType, *name, now, *validity); err != nil {
				return fmt.Errorf("ca init: %w", err)
			}
		}
		if err := auth.Save(dir); err != nil {
			if errors.Is(err, ca.ErrExists) {
				return fmt.Errorf("ca init: %s already holds a certificate authority; refusing to overwrite it", dir)
			}
			return fmt.Errorf("ca init: %w", err)
		}
		db, err := openStore(ctx, *data, *dbURL)
		if err != nil {
			return err
		}
		defer db.Close()
		fp := ca.Fingerprint(auth.Cert.Raw)
		if err := db.AppendAudit(ctx, coffer.NewAuditEvent(now, coffer.AuditCAInitialized, "", map[string]any{
			"how": how, "subject": auth.Cert.Subject.String(), "fingerprint": fp,
			"not_after": auth.Cert.NotAfter.UTC().Format(time.RFC3339)})); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s certificate authority in %s\n", how, dir)
		fmt.Fprintf(stdout, "  subject:     %s\n", auth.Cert.Subject)
		fmt.Fprintf(stdout, "  valid until: %s\n", auth.Cert.NotAfter.UTC().Format(time.RFC3339))
		fmt.Fprintf(stdout, "  sha256:      %s\n", fp)
		fmt.Fprintf(stdout, "Restart cofferd serve to issue certificates; give its TLS listener --tls-client-ca %s.\n", filepath.Join(dir, ca.CertFile))
		return nil

	case "server-cert":
		var hosts hostList
		fset.Var(&hosts, "host", "an IP address or DNS name the certificate is for (repeat or comma-separate)")
		outCert := fset.String("out-cert", "", "write the certificate (PEM) here")
		outKey := fset.String("out-key", "", "write its private key (PEM, mode 0600) here")
		keyType := fset.String("key-type", ca.ECDSAP256, "ecdsa-p256 or ed25519")
		validity := fset.Duration("validity", 365*24*time.Hour, "how long the certificate is valid")
		if _, err := parseFlags(ctx, fset, args[1:], stdout); err != nil {
			return err
		}
		if fset.NArg() > 0 {
			return fmt.Errorf("ca server-cert: unexpected argument %q", fset.Arg(0))
		}
		if len(hosts) == 0 || *outCert == "" || *outKey == "" {
			return errors.New("ca server-cert: --host, --out-cert and --out-key are required")
		}
		if *validity <= 0 {
			return errors.New("ca server-cert: --validity must be positive")
		}
		auth, err := ca.Load(caDir(*data), time.Now())
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ca server-cert: there is no certificate authority in %s; run 'cofferd admin ca init' first", caDir(*data))
		} else if err != nil {
			return err
		}
		key, err := ca.GenerateKey(*keyType)
		if err != nil {
			return fmt.Errorf("ca server-cert: %w", err)
		}
		cert, err := auth.IssueServer(key.Public(), hosts, time.Now(), *validity)
		if err != nil {
			return err
		}
		keyPEM, err := ca.EncodeKeyPEM(key)
		if err != nil {
			return err
		}
		if err := ca.WriteNewFile(*outKey, keyPEM, 0o600); err != nil {
			return fmt.Errorf("ca server-cert: %w (it is not overwritten)", err)
		}
		if err := ca.WriteNewFile(*outCert, ca.EncodeCertPEM(cert.Raw), 0o644); err != nil {
			os.Remove(*outKey)
			return fmt.Errorf("ca server-cert: %w (it is not overwritten)", err)
		}
		fmt.Fprintf(stdout, "issued server certificate for %s, valid until %s\n  certificate: %s\n  key:         %s\n",
			strings.Join(hosts, ", "), cert.NotAfter.UTC().Format(time.RFC3339), *outCert, *outKey)
		return nil
	}
	fmt.Fprintf(stderr, "cofferd admin ca: unknown command %q\n\n%s", args[0], caUsage)
	return exitCode(2)
}

// tlsOptions are the flags of `cofferd serve` for the HTTPS listener and
// members' client certificates.
type tlsOptions struct {
	cert, key, clientCA, addr string
	certValidity              time.Duration
	certMaxActive             int
}

func (o *tlsOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.cert, "tls-cert", "", "server certificate (PEM) of the HTTPS listener; with --tls-key it turns the listener on")
	fs.StringVar(&o.key, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&o.clientCA, "tls-client-ca", "", "CA certificate(s) (PEM) that members' client certificates must chain to (default: DATA/ca/ca.crt when it exists)")
	fs.StringVar(&o.addr, "tls-addr", "127.0.0.1:8443", "HTTPS listen address, beside the plain --addr (port 0 picks a free port)")
	fs.DurationVar(&o.certValidity, "cert-validity", app.DefaultCertValidity, "how long a member's client certificate is valid")
	fs.IntVar(&o.certMaxActive, "cert-max-active", app.DefaultMaxActiveCert, "most unrevoked, unexpired certificates one member may hold")
}

func (o *tlsOptions) enabled() bool { return o.cert != "" || o.key != "" }

// certConfig loads the operator's CA from the data directory, when there is
// one, and the pool of client CAs.
func (o *tlsOptions) certConfig(data string, log *slog.Logger) (app.CertConfig, error) {
	cfg := app.CertConfig{Validity: o.certValidity, MaxActive: o.certMaxActive}
	if o.certValidity < time.Hour {
		return cfg, errors.New("serve: --cert-validity must be at least 1h")
	}
	if o.certMaxActive < 1 {
		return cfg, errors.New("serve: --cert-max-active must be at least 1")
	}
	auth, err := ca.Load(caDir(data), time.Now())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no certificate authority in the data directory; members cannot request certificates", "dir", caDir(data))
	case err != nil:
		return cfg, fmt.Errorf("serve: %w", err)
	default:
		cfg.Authority = auth
	}
	if o.clientCA != "" {
		pemData, err := os.ReadFile(o.clientCA)
		if err != nil {
			return cfg, fmt.Errorf("serve: --tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		n := 0
		for rest := pemData; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return cfg, fmt.Errorf("serve: --tls-client-ca: %w", err)
			}
			pool.AddCert(c)
			n++
			if auth != nil && c.Equal(auth.Cert) {
				auth = nil // found: no warning
			}
		}
		if n == 0 {
			return cfg, fmt.Errorf("serve: --tls-client-ca %s holds no PEM certificate", o.clientCA)
		}
		cfg.ClientCAs = pool
		if auth != nil {
			log.Warn("--tls-client-ca does not hold the data directory's CA: certificates this server issues will be refused", "file", o.clientCA)
		}
	}
	return cfg, nil
}

// listen opens the HTTPS listener and returns the server to run on it with
// ServeTLS(ln, "", ""), or nils when TLS is off.
func (o *tlsOptions) listen(api *httpapi.Server, certs app.CertConfig, log *slog.Logger) (*http.Server, net.Listener, error) {
	if !o.enabled() {
		if o.clientCA != "" {
			return nil, nil, errors.New("serve: --tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil, nil
	}
	if o.cert == "" || o.key == "" {
		return nil, nil, errors.New("serve: --tls-cert and --tls-key go together")
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(o.key); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the TLS key file is readable by other users; chmod 600 it", "file", o.key)
		}
	}
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: TLS certificate: %w", err)
	}
	pool := certs.ClientCAs
	if pool == nil && certs.Authority != nil {
		pool = certs.Authority.Pool()
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: listen (TLS): %w", err)
	}
	srv := &http.Server{Handler: api, TLSConfig: httpapi.TLSConfig(cert, pool),
		ConnContext: api.ConnContext, ConnState: api.ConnState,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return srv, ln, nil
}
