package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/coffer-money/coffer/client"
)

// A stand-in for a coffer server: it knows one member whose purse holds
// 20.00 USD and is briefly unavailable on the first transfer attempt.
func fakeServer() *httptest.Server {
	failedOnce := false
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"token":"s3cr3t","member_id":"123456789012","expires_at":"2030-01-01T00:00:00Z"}`)
	})
	mux.HandleFunc("POST /v1/transfers", func(w http.ResponseWriter, r *http.Request) {
		var req client.TransferRequest
		json.NewDecoder(r.Body).Decode(&req)
		if !failedOnce {
			failedOnce = true
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"title":"Unavailable","status":503,"code":"unavailable"}`)
			return
		}
		if req.Amount != "12.50" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"title":"Insufficient funds","status":409,"code":"insufficient_funds","detail":"the purse holds less than `+req.Amount+`"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{
			"transfer_id": req.TransferID, "from": req.From, "to": req.To, "amount": req.Amount,
			"currency": "USD", "status": "applied", "created_at": "2030-01-01T00:00:00Z",
		})
	})
	return httptest.NewServer(mux)
}

func Example() {
	srv := fakeServer()
	defer srv.Close()
	ctx := context.Background()

	c := client.New(srv.URL, client.WithUserAgent("example/1.0"))
	auth, err := c.Login(ctx, "123456789012", "correct horse battery staple")
	if err != nil {
		fmt.Println("login failed:", err)
		return
	}
	c.SetToken(auth.Token)

	// The first attempt meets a 503; Send retries with the same transfer
	// ID, so the money moves exactly once.
	t, err := c.Send(ctx, client.TransferRequest{
		TransferID: "rent-2030-01",
		From:       "Z111111111111",
		To:         "Z222222222222",
		Amount:     "12.50",
	})
	if err != nil {
		fmt.Println("send failed:", err)
		return
	}
	fmt.Println(t.TransferID, t.Status, t.Amount, t.Currency)

	_, err = c.Send(ctx, client.TransferRequest{From: "Z111111111111", To: "Z222222222222", Amount: "99.00"})
	if client.IsCode(err, "insufficient_funds") {
		var e *client.Error
		if errors.As(err, &e) {
			fmt.Println("refused:", e.Detail)
		}
	}
	// Output:
	// rent-2030-01 applied 12.50 USD
	// refused: the purse holds less than 99.00
}
