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
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/ca"
	"github.com/coffer-money/coffer/httpapi"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
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
	acmeDomains               hostList // certificates from an ACME CA (Let's Encrypt) for these names
	acmeEmail                 string
	acmeDirectory             string
	acmeCache                 string // default DATA/acme
	acmeHTTPAddr              string // a plain listener for HTTP-01 challenges only (with --tls-only)
	only                      bool   // no plain member listener
}

func (o *tlsOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.cert, "tls-cert", "", "server certificate (PEM) of the HTTPS listener; with --tls-key it turns the listener on")
	fs.StringVar(&o.key, "tls-key", "", "private key (PEM) of --tls-cert")
	fs.StringVar(&o.clientCA, "tls-client-ca", "", "CA certificate(s) (PEM) that members' client certificates must chain to (default: DATA/ca/ca.crt when it exists)")
	fs.StringVar(&o.addr, "tls-addr", "127.0.0.1:8443", "HTTPS listen address, beside the plain --addr (port 0 picks a free port)")
	fs.DurationVar(&o.certValidity, "cert-validity", app.DefaultCertValidity, "how long a member's client certificate is valid")
	fs.IntVar(&o.certMaxActive, "cert-max-active", app.DefaultMaxActiveCert, "most unrevoked, unexpired certificates one member may hold")
	fs.Var(&o.acmeDomains, "acme-domain", "public DNS name to get the HTTPS listener's certificate for from an ACME CA (Let's Encrypt by default) when a client first asks for it; "+
		"turns the HTTPS listener on instead of --tls-cert, and accepts the CA's terms of service (repeat, or separate with commas)")
	fs.StringVar(&o.acmeEmail, "acme-email", "", "contact address given to the ACME CA, for its notices about the certificates (optional)")
	fs.StringVar(&o.acmeDirectory, "acme-directory", autocert.DefaultACMEDirectory, "directory URL of the ACME CA")
	fs.StringVar(&o.acmeCache, "acme-cache", "", "directory keeping the ACME account key and the certificates (default DATA/acme, mode 0700)")
	fs.StringVar(&o.acmeHTTPAddr, "acme-http-addr", "", "with --tls-only: a plain listener (such as :80) that answers only the ACME CA's http-01 challenges and sends everything else to https (default: none; tls-alpn-01 on the HTTPS listener needs none)")
	fs.BoolVar(&o.only, "tls-only", false, "serve members over HTTPS only: no plain --addr listener (needs --tls-cert or --acme-domain)")
}

func (o *tlsOptions) enabled() bool { return o.cert != "" || o.key != "" || len(o.acmeDomains) > 0 }

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

// httpsListener is the opened HTTPS listener and where its certificate
// comes from: a file, or an ACME CA.
type httpsListener struct {
	ln   net.Listener
	cert *tls.Certificate  // --tls-cert; nil with ACME
	acme *autocert.Manager // --acme-domain; nil with a certificate file
}

// open checks the TLS flags, loads the certificate or sets up the ACME
// client, and opens the HTTPS listener; nil when TLS is off. It opens
// before the plain listener, so that a --tls-only server's public URL can
// be the HTTPS listener's.
func (o *tlsOptions) open(data string, log *slog.Logger) (*httpsListener, error) {
	if !o.enabled() {
		switch {
		case o.clientCA != "":
			return nil, errors.New("serve: --tls-client-ca needs --tls-cert and --tls-key, or --acme-domain")
		case o.only:
			return nil, errors.New("serve: --tls-only needs an HTTPS listener: --tls-cert and --tls-key, or --acme-domain")
		}
		return nil, nil
	}
	if o.acmeHTTPAddr != "" && (!o.only || len(o.acmeDomains) == 0) {
		return nil, errors.New("serve: --acme-http-addr goes with --acme-domain and --tls-only (without --tls-only, the plain --addr listener answers the challenges)")
	}
	l := &httpsListener{}
	if len(o.acmeDomains) > 0 {
		if o.cert != "" || o.key != "" {
			return nil, errors.New("serve: --acme-domain and --tls-cert: choose one source of the HTTPS certificate")
		}
		m, err := o.acmeManager(data, log)
		if err != nil {
			return nil, err
		}
		l.acme = m
	} else {
		if o.cert == "" || o.key == "" {
			return nil, errors.New("serve: --tls-cert and --tls-key go together")
		}
		if runtime.GOOS != "windows" {
			if fi, err := os.Stat(o.key); err == nil && fi.Mode().Perm()&0o077 != 0 {
				log.Warn("the TLS key file is readable by other users; chmod 600 it", "file", o.key)
			}
		}
		cert, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("serve: TLS certificate: %w", err)
		}
		l.cert = &cert
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen (TLS): %w", err)
	}
	l.ln = ln
	return l, nil
}

// acmeManager checks the --acme-* flags and makes the client that gets
// and renews the certificates, keeping them in the cache directory.
func (o *tlsOptions) acmeManager(data string, log *slog.Logger) (*autocert.Manager, error) {
	for _, d := range o.acmeDomains {
		// The CA checks names itself; these are the ones it can never
		// issue for through autocert, refused before the first client.
		switch {
		case net.ParseIP(d) != nil:
			return nil, fmt.Errorf("serve: --acme-domain %q: an IP address; give a DNS name", d)
		case strings.Contains(d, "*"):
			return nil, fmt.Errorf("serve: --acme-domain %q: wildcard names need a DNS challenge, which is not supported", d)
		case !strings.Contains(strings.Trim(d, "."), "."):
			return nil, fmt.Errorf("serve: --acme-domain %q: not a public DNS name (such as coffer.example.org)", d)
		}
	}
	if u, err := url.Parse(o.acmeDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("serve: --acme-directory %q: not an https:// URL", o.acmeDirectory)
	}
	dir := o.acmeCache
	if dir == "" {
		dir = filepath.Join(data, "acme")
	}
	// The cache holds the account key and the certificates' private keys.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("serve: --acme-cache: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("serve: --acme-cache: %w", err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the ACME cache directory, which holds private keys, is open to other users; chmod 700 it", "dir", dir)
	}
	log.Info("HTTPS certificates come from an ACME CA", "domains", o.acmeDomains.String(), "directory", o.acmeDirectory, "cache", dir)
	allowed := autocert.HostWhitelist(o.acmeDomains...)
	return &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  autocert.DirCache(dir),
		// An http-01 challenge's Host field names the port when the
		// plain listener is reached on another than 80.
		HostPolicy: func(ctx context.Context, host string) error {
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return allowed(ctx, host)
		},
		Email:  o.acmeEmail,
		Client: &acme.Client{DirectoryURL: o.acmeDirectory},
	}, nil
}

// acmeURL is the public URL of a server with ACME certificates and no
// --public-url: https://DOMAIN for the first --acme-domain, with the
// listener's port when it is not 443. "" without ACME.
func (l *httpsListener) acmeURL(o *tlsOptions) string {
	if l == nil || l.acme == nil {
		return ""
	}
	host := strings.ToLower(strings.TrimSuffix(o.acmeDomains[0], "."))
	if ap, err := netip.ParseAddrPort(l.ln.Addr().String()); err == nil && ap.Port() != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
	}
	return "https://" + host
}

// httpsRedirect sends a GET or HEAD to the same path under the public URL;
// other methods are refused, since their body has already crossed the
// network in the clear.
func httpsRedirect(publicURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "Use HTTPS: "+publicURL, http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, publicURL+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// server returns the HTTP server to run on the listener with
// ServeTLS(l.ln, "", ""). Members' client certificates are asked for and
// checked against the client CAs whatever the server certificate's source.
func (l *httpsListener) server(h http.Handler, api *httpapi.Server, certs app.CertConfig, log *slog.Logger) *http.Server {
	pool := certs.ClientCAs
	if pool == nil && certs.Authority != nil {
		pool = certs.Authority.Pool()
	}
	var cfg *tls.Config
	if l.cert != nil {
		cfg = httpapi.TLSConfig(*l.cert, pool)
	} else {
		cfg = httpapi.TLSConfig(tls.Certificate{}, pool)
		cfg.Certificates = nil
		cfg.GetCertificate = l.acme.GetCertificate
		// acme-tls/1 lets the CA check the name on this listener
		// (tls-alpn-01); browsers never offer it.
		cfg.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
	}
	return &http.Server{Handler: h, TLSConfig: cfg,
		ConnContext: api.ConnContext, ConnState: api.ConnState,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}
