package main

// Running the shop against a coffer server:
//
//	cofferd admin oidc-client add --name "Tea Shop" --redirect-uri http://127.0.0.1:8090/callback
//	export SHOP_CLIENT_ID=… SHOP_CLIENT_SECRET=cfs_… SHOP_TOKEN=… SHOP_CHECKOUT_SECRET=…
//	go run ./examples/shop -coffer http://127.0.0.1:8080 -merchant 123456789012 -purse Z100000000001 -register-webhook
//
// -register-webhook registers PUBLIC/webhook with coffer and
// -new-checkout-secret makes the merchant's checkout secret; each prints its
// secret, shown once: give them as SHOP_WEBHOOK_SECRET and
// SHOP_CHECKOUT_SECRET on later starts. With -key-file and no checkout
// secret, checkout links are signed with the key file's key.

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coffer-money/coffer/client"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

// env returns the environment variable name, or def when it is unset.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var cfg Config
	addr := fs.String("addr", env("SHOP_ADDR", "127.0.0.1:8090"), "listen address (SHOP_ADDR)")
	fs.StringVar(&cfg.PublicURL, "public", env("SHOP_PUBLIC_URL", "http://127.0.0.1:8090"), "the shop's public base URL (SHOP_PUBLIC_URL)")
	fs.StringVar(&cfg.CofferURL, "coffer", env("SHOP_COFFER_URL", "http://127.0.0.1:8080"), "the coffer server (SHOP_COFFER_URL)")
	fs.StringVar(&cfg.ClientID, "client-id", env("SHOP_CLIENT_ID", ""), "OpenID Connect client ID (SHOP_CLIENT_ID)")
	fs.StringVar(&cfg.ClientSecret, "client-secret", env("SHOP_CLIENT_SECRET", ""), "OpenID Connect client secret (SHOP_CLIENT_SECRET)")
	fs.StringVar(&cfg.Merchant, "merchant", env("SHOP_MERCHANT", ""), "the shop's coffer member ID (SHOP_MERCHANT)")
	fs.StringVar(&cfg.Purse, "purse", env("SHOP_PURSE", ""), "the purse payments go to (SHOP_PURSE)")
	fs.StringVar(&cfg.Currency, "currency", env("SHOP_CURRENCY", "USD"), "the purse's currency (SHOP_CURRENCY)")
	fs.StringVar(&cfg.CheckoutSecret, "checkout-secret", env("SHOP_CHECKOUT_SECRET", ""), "the merchant's checkout secret (SHOP_CHECKOUT_SECRET)")
	newCheckoutSecret := fs.Bool("new-checkout-secret", false, "make the merchant's checkout secret (replacing any) and print it")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", env("SHOP_WEBHOOK_SECRET", ""), "the webhook endpoint's secret (SHOP_WEBHOOK_SECRET)")
	token := fs.String("token", env("SHOP_TOKEN", ""), "the merchant's session token (SHOP_TOKEN)")
	keyFile := fs.String("key-file", env("SHOP_KEY_FILE", ""), "instead of -token: `FILE` with a decrypted coffer key file, from age -d key.age > FILE (SHOP_KEY_FILE)")
	register := fs.Bool("register-webhook", false, "register PUBLIC/webhook with coffer and print its secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.CofferURL = strings.TrimSuffix(cfg.CofferURL, "/")
	opts := []client.Option{client.WithToken(*token)}
	if *keyFile != "" {
		keyID, key, err := readKeyFile(*keyFile)
		if err != nil {
			return err
		}
		opts = []client.Option{client.WithSigner(keyID, key)}
		cfg.CheckoutKeyID, cfg.CheckoutKey = keyID, key
	}
	cfg.API = client.New(cfg.CofferURL, opts...)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.Log = log

	if (*register || *newCheckoutSecret) && *token == "" {
		return errors.New("-register-webhook and -new-checkout-secret need -token (a password session)")
	}
	if *register {
		secret, err := RegisterWebhook(ctx, nil, cfg.CofferURL, *token, strings.TrimSuffix(cfg.PublicURL, "/")+"/webhook")
		if err != nil {
			return err
		}
		fmt.Printf("webhook registered; its secret (shown once): %s\n", secret)
		cfg.WebhookSecret = secret
	}
	if *newCheckoutSecret {
		secret, err := NewCheckoutSecret(ctx, nil, cfg.CofferURL, *token)
		if err != nil {
			return err
		}
		fmt.Printf("checkout secret (shown once): %s\n", secret)
		cfg.CheckoutSecret = secret
	}
	shop, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("shop listening", "addr", *addr, "public", cfg.PublicURL)
	srv := &http.Server{Addr: *addr, Handler: shop, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// RegisterWebhook asks coffer (POST /v1/webhooks) to send the shop's
// events to url, signed with HMAC, and returns the endpoint's secret.
func RegisterWebhook(ctx context.Context, hc *http.Client, cofferURL, token, url string) (string, error) {
	w, err := sessionClient(hc, cofferURL, token).CreateWebhook(ctx, url, []string{"checkout.paid", "invoice.paid"}, "hmac")
	if err != nil {
		return "", err
	}
	if w.Secret == "" {
		return "", errors.New("coffer registered the webhook without an HMAC secret")
	}
	return w.Secret, nil
}

// NewCheckoutSecret asks coffer (POST /v1/checkout/secret) for the
// merchant's checkout secret. It needs a password session's token.
func NewCheckoutSecret(ctx context.Context, hc *http.Client, cofferURL, token string) (string, error) {
	return sessionClient(hc, cofferURL, token).NewCheckoutSecret(ctx)
}

// sessionClient is a client of cofferURL with the session token; hc nil
// means the client's default.
func sessionClient(hc *http.Client, cofferURL, token string) *client.Client {
	return client.New(cofferURL, client.WithHTTPClient(hc), client.WithToken(token))
}

// readKeyFile reads the key ID and private key from the plain text of a
// coffer key file (the "Key-ID:" header and the PKCS #8 PEM block).
func readKeyFile(path string) (string, ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var keyID string
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Key-ID: "); ok {
			keyID = strings.TrimSpace(v)
		}
	}
	block, _ := pem.Decode(data)
	if keyID == "" || block == nil {
		return "", nil, fmt.Errorf("%s: not a decrypted coffer key file", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := k.(ed25519.PrivateKey)
	if err != nil || !ok {
		return "", nil, fmt.Errorf("%s: no Ed25519 private key", path)
	}
	return keyID, priv, nil
}
