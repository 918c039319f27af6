package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coffer-money/coffer/app"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/httpapi"
	"github.com/coffer-money/coffer/ledger"
	"github.com/coffer-money/coffer/password"
	"github.com/coffer-money/coffer/sqlite"
)

// The examples run against a real coffer server started in the process:
// the API, the ledger and SQLite in a temporary directory. A program uses a
// server's URL instead.

// examplePassword is long enough and not on the common-password list.
const examplePassword = "correct horse battery staple 42"

// exampleServer is a coffer server for one example.
type exampleServer struct {
	URL  string
	db   *sqlite.DB
	svc  *app.Service
	stop func()
}

func startServer() *exampleServer {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "coffer-example-")
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	engine := ledger.New(db, logger, ledger.Config{})
	go engine.Run()
	// A cheap password hash keeps the examples fast; servers use the default.
	hasher := password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}
	svc := app.New(db, engine, logger, app.Config{Hasher: hasher})
	srv := httptest.NewServer(httpapi.New(svc, logger, httpapi.NewMetrics(), httpapi.Config{NoLoginIPLimit: true}))
	return &exampleServer{URL: srv.URL, db: db, svc: svc, stop: func() {
		srv.Close()
		engine.Close()
		<-engine.Done()
		db.Close()
		os.RemoveAll(dir)
	}}
}

// member registers a member and returns a client logged in as them.
func (s *exampleServer) member(ctx context.Context) (*client.Client, string) {
	c := client.New(s.URL)
	m, err := c.Register(ctx, client.RegisterRequest{Password: examplePassword})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := c.Login(ctx, m.MemberID, examplePassword)
	if err != nil {
		log.Fatal(err)
	}
	c.SetToken(auth.Token)
	return c, m.MemberID
}

// fund pays amount into purse from an issuer, as an operator's issuing
// purse would.
func (s *exampleServer) fund(ctx context.Context, purse, amount string) {
	iss, _ := s.member(ctx)
	p, err := iss.CreatePurse(ctx, "USD")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.db.SetIssuer(ctx, p.Purse, 1_000_000_00); err != nil {
		log.Fatal(err)
	}
	if _, err := iss.Send(ctx, client.TransferRequest{From: p.Purse, To: purse, Amount: amount}); err != nil {
		log.Fatal(err)
	}
}

// Register a member, log in and use the session.
func Example_sessions() {
	srv := startServer()
	defer srv.stop()
	ctx := context.Background()

	c := client.New(srv.URL, client.WithUserAgent("example/1.0"))
	m, err := c.Register(ctx, client.RegisterRequest{Password: examplePassword, Email: "ada@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("member ID digits:", len(m.MemberID))

	// The login may be the member ID, the e-mail address or the phone.
	auth, err := c.Login(ctx, "ada@example.com", examplePassword)
	if err != nil {
		log.Fatal(err)
	}
	if auth.Pending() {
		// The member asked for a second factor: answer auth.ChallengeID
		// with c.ConfirmLogin and a code.
		return
	}
	c.SetToken(auth.Token)
	sessions, err := c.Sessions(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("open sessions:", len(sessions))

	if err := c.Logout(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = c.Purses(ctx)
	fmt.Println("after logout:", client.IsCode(err, "unauthorized"))

	_, err = c.Login(ctx, m.MemberID, "not the password")
	fmt.Println("wrong password:", client.IsCode(err, "unauthorized"))
	// Output:
	// member ID digits: 12
	// open sessions: 1
	// after logout: true
	// wrong password: true
}

// Sign requests with a key instead of a session token. The coffer keeper
// keeps the private key in a key file and signs this way; any program that
// holds an Ed25519 key registered with the member can do the same.
func ExampleWithSigner() {
	srv := startServer()
	defer srv.stop()
	ctx := context.Background()

	// Registering a key takes a session from a password login.
	c, _ := srv.member(ctx)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	key, err := c.AddKey(ctx, "payroll server", pub)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreatePurse(ctx, "USD"); err != nil {
		log.Fatal(err)
	}

	// From now on no token is needed: each request carries its own
	// signature (RFC 9421) made with the private key.
	signed := client.New(srv.URL, client.WithSigner(key.KeyID, priv))
	purses, err := signed.Purses(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("purses:", len(purses), purses[0].Currency)

	keys, err := signed.Keys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed with the key:", keys[0].Current, keys[0].Name)

	// A key someone else holds is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	_, err = client.New(srv.URL, client.WithSigner(key.KeyID, other)).Purses(ctx)
	fmt.Println("wrong key refused:", err != nil)
	// Output:
	// purses: 1 USD
	// signed with the key: true payroll server
	// wrong key refused: true
}

// Open purses, read balances and the history.
func ExampleClient_CreatePurse() {
	srv := startServer()
	defer srv.stop()
	ctx := context.Background()
	c, _ := srv.member(ctx)

	usd, err := c.CreatePurse(ctx, "USD")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(usd.Currency, usd.Balance)

	srv.fund(ctx, usd.Purse, "25.00")
	p, err := c.Purse(ctx, usd.Purse)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Currency, p.Balance)

	page, err := c.History(ctx, usd.Purse, client.HistoryOptions{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page.Entries {
		fmt.Println("history:", e.Amount, "balance after", e.BalanceAfter)
	}

	_, err = c.CreatePurse(ctx, "XYZ")
	fmt.Println("unknown currency:", client.IsCode(err, "currency_not_found"))
	// Output:
	// USD 0.00
	// USD 25.00
	// history: 25.00 balance after 25.00
	// unknown currency: true
}

// loseFirstAnswer is a transport whose first answer is lost on the way back,
// after the server has acted on the request: the case a retry must not turn
// into a second payment.
type loseFirstAnswer struct{ lost atomic.Bool }

func (t *loseFirstAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && t.lost.CompareAndSwap(false, true) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return resp, err
}

// Send retries a transfer whose answer was lost with the same transfer ID,
// so the money moves exactly once.
func ExampleClient_Send() {
	srv := startServer()
	defer srv.stop()
	ctx := context.Background()
	alice, _ := srv.member(ctx)
	bob, _ := srv.member(ctx)
	from, _ := alice.CreatePurse(ctx, "USD")
	to, _ := bob.CreatePurse(ctx, "USD")
	srv.fund(ctx, from.Purse, "100.00")

	// This client loses the first answer it gets.
	flaky := client.New(srv.URL, client.WithToken(alice.Token()),
		client.WithHTTPClient(&http.Client{Transport: &loseFirstAnswer{}}),
		client.WithRetry(3, 10*time.Millisecond, 100*time.Millisecond))
	t, err := flaky.Send(ctx, client.TransferRequest{
		TransferID:  "rent-2030-01", // left empty, Send picks one
		From:        from.Purse,
		To:          to.Purse,
		Amount:      "12.50",
		Description: "rent",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.TransferID, t.Status, t.Amount, t.Currency)

	p, _ := alice.Purse(ctx, from.Purse)
	fmt.Println("left:", p.Balance)

	// A refusal is final and is not retried.
	_, err = alice.Send(ctx, client.TransferRequest{From: from.Purse, To: to.Purse, Amount: "1000.00"})
	var se *client.SendError
	if errors.As(err, &se) && client.IsCode(err, "insufficient_funds") {
		fmt.Println("refused: insufficient_funds; safe to retry later as", len(se.TransferID) > 0)
	}
	// Output:
	// rent-2030-01 applied 12.50 USD
	// left: 87.50
	// refused: insufficient_funds; safe to retry later as true
}

// A merchant issues an invoice; the payer pays it.
func ExampleClient_CreateInvoice() {
	srv := startServer()
	defer srv.stop()
	ctx := context.Background()
	shop, _ := srv.member(ctx)
	buyer, buyerID := srv.member(ctx)
	till, _ := shop.CreatePurse(ctx, "USD")
	wallet, _ := buyer.CreatePurse(ctx, "USD")
	srv.fund(ctx, wallet.Purse, "50.00")

	inv, err := shop.CreateInvoice(ctx, client.InvoiceRequest{
		Payer:       buyerID,
		Purse:       till.Purse,
		Amount:      "19.99",
		Description: "Blue teapot",
		OrderNumber: "order-1001", // one invoice per order number
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inv.OrderNumber, inv.Amount, inv.Currency, inv.State)

	// The buyer finds it among the invoices to pay and pays it.
	page, err := buyer.Invoices(ctx, client.InvoiceOptions{Role: "payer", State: "pending"})
	if err != nil {
		log.Fatal(err)
	}
	t, err := buyer.PayInvoice(ctx, page.Invoices[0].InvoiceID, "", wallet.Purse)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid:", t.Status, t.Amount)

	inv, _ = shop.Invoice(ctx, inv.InvoiceID)
	fmt.Println(inv.State, inv.TransferID == t.TransferID)
	p, _ := shop.Purse(ctx, till.Purse)
	fmt.Println("till:", p.Balance)
	// Output:
	// order-1001 19.99 USD pending
	// paid: applied 19.99
	// paid true
	// till: 19.99
}
