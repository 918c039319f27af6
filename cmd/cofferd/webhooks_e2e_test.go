package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/client"
	"github.com/coffer-money/coffer/postgres/pgtest"
)

// TestCofferd_WebhooksSurviveCrash: transfers to a member are acknowledged
// while the member's webhook endpoint fails; cofferd is killed with SIGKILL;
// once restarted on the same data and the endpoint answers, the event of
// every acknowledged transfer arrives, signed, each with one event ID
// however often it comes.
func TestCofferd_WebhooksSurviveCrash(t *testing.T) {
	needBinaries(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testWebhooksSurviveCrash(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testWebhooksSurviveCrash(t, []string{"--db", pgtest.URL(t)})
	})
}

// hookReceiver is a webhook endpoint that verifies each delivery with the
// endpoint's secret and answers with the status it is set to.
type hookReceiver struct {
	status atomic.Int32
	mu     sync.Mutex
	secret string
	byID   map[string]string // transfer ID -> event ID
	failed map[string]int    // transfer ID -> deliveries answered with an error
	okays  map[string]int    // transfer ID -> deliveries answered 200
	errs   []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev, err := client.VerifyWebhook(r, h.secret)
	var d *client.EventData
	if err == nil {
		d, err = ev.Decode()
	}
	if err != nil {
		h.errs = append(h.errs, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if ev.Type != coffer.EventTransferIncoming {
		h.errs = append(h.errs, fmt.Sprintf("event %s of type %s", ev.EventID, ev.Type))
	}
	if id, ok := h.byID[d.TransferID]; ok && id != ev.EventID {
		h.errs = append(h.errs, fmt.Sprintf("transfer %s came as events %s and %s", d.TransferID, id, ev.EventID))
	}
	h.byID[d.TransferID] = ev.EventID
	status := int(h.status.Load())
	if status == http.StatusOK {
		h.okays[d.TransferID]++
	} else {
		h.failed[d.TransferID]++
	}
	w.WriteHeader(status)
}

func testWebhooksSurviveCrash(t *testing.T, dbFlags []string) {
	data := t.TempDir()
	flags := append([]string{"--webhooks-allow-loopback"}, dbFlags...)
	s := startServerWith(t, data, flags...)
	e := newEconomy(t, s, 4)
	m := e.members[0]

	rc := &hookReceiver{byID: map[string]string{}, failed: map[string]int{}, okays: map[string]int{}}
	rc.status.Store(http.StatusInternalServerError)
	recv := httptest.NewServer(rc)
	t.Cleanup(recv.Close)
	var hook struct {
		WebhookID string `json:"webhook_id"`
		Secret    string `json:"secret"`
	}
	s.must(t, "POST", "/v1/webhooks", m.token, map[string]any{"url": recv.URL + "/coffer",
		"events": []string{coffer.EventTransferIncoming}, "signing": coffer.SigningHMAC}, http.StatusCreated, &hook)
	rc.mu.Lock()
	rc.secret = hook.Secret
	rc.mu.Unlock()

	// Transfers to the member from the issuer and the other members, at
	// once; and a few from the member, which are not incoming.
	senders := append([]*e2eMember{e.issuer}, e.members[1:]...)
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for i, from := range senders {
		wg.Go(func() {
			for j := range 8 {
				id := fmt.Sprintf("hook-%d-%d", i, j)
				body, _ := json.Marshal(map[string]string{"transfer_id": id,
					"from": from.purse, "to": m.purse, "amount": coffer.FormatAmount(int64(100+j), 2)})
				status, answer, err := s.call("POST", "/v1/transfers", from.token, body)
				if err != nil || status != http.StatusCreated {
					t.Errorf("transfer %s: got %d %s %v, want 201", id, status, bytes.TrimSpace(answer), err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	outgoing := map[string]bool{}
	for j := range 3 {
		id := fmt.Sprintf("out-%d", j)
		s.must(t, "POST", "/v1/transfers", m.token, map[string]string{"transfer_id": id,
			"from": m.purse, "to": e.members[1].purse, "amount": "1.00"}, http.StatusCreated, nil)
		outgoing[id] = true
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Wait until the server has tried every delivery once and recorded the
	// failure: the next try is at least 10 s away, so no delivery is in
	// flight (claimed) when the server dies.
	type deliveries struct {
		Deliveries []struct {
			EventID  string `json:"event_id"`
			State    string `json:"state"`
			Attempts []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"deliveries"`
	}
	var dl deliveries
	tried := func() bool {
		dl = deliveries{}
		s.must(t, "GET", "/v1/webhooks/"+hook.WebhookID+"/deliveries?limit=100", m.token, nil, http.StatusOK, &dl)
		if len(dl.Deliveries) < len(acked) {
			return false
		}
		for _, d := range dl.Deliveries {
			if len(d.Attempts) == 0 {
				return false
			}
		}
		return true
	}
	if !waitFor(8*time.Second, tried) {
		t.Fatalf("deliveries before the crash: got %+v, want %d each tried once", dl.Deliveries, len(acked))
	}
	for _, d := range dl.Deliveries {
		if d.State != coffer.DeliveryPending || d.Attempts[0].StatusCode != http.StatusInternalServerError {
			t.Fatalf("delivery %s before the crash: got state %s, attempts %+v, want pending after a 500", d.EventID, d.State, d.Attempts)
		}
	}
	s.kill()

	// Restarted on the same data (for PostgreSQL, another data directory
	// with the same keys: everything else is in the database); the endpoint
	// works now.
	data2 := data
	if dbFlags != nil {
		data2 = dataDirLike(t, data)
	}
	rc.status.Store(http.StatusOK)
	restarted := time.Now()
	s2 := startServerWith(t, data2, flags...)
	arrived := func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range acked {
			if rc.okays[id] == 0 {
				return false
			}
		}
		return true
	}
	// The retry is due 10 s after the first try; the worker looks every second.
	if !waitFor(20*time.Second, arrived) {
		rc.mu.Lock()
		var missing []string
		for _, id := range acked {
			if rc.okays[id] == 0 {
				missing = append(missing, id)
			}
		}
		rc.mu.Unlock()
		t.Fatalf("%d of %d acknowledged transfers' events did not arrive within 20 s of the restart: %v", len(missing), len(acked), missing)
	}
	t.Logf("%d events arrived %v after the restart", len(acked), time.Since(restarted).Round(100*time.Millisecond))

	rc.mu.Lock()
	for _, err := range rc.errs {
		t.Errorf("receiver: %s", err)
	}
	ackedSet := map[string]bool{}
	for _, id := range acked {
		ackedSet[id] = true
		if rc.failed[id] == 0 {
			t.Errorf("transfer %s: its event was not tried before the crash", id)
		}
	}
	events := map[string]bool{}
	for id, ev := range rc.byID {
		if outgoing[id] || !ackedSet[id] {
			t.Errorf("got an event %s for transfer %s, which is not one the member received", ev, id)
		}
		if events[ev] {
			t.Errorf("event ID %s came for two transfers", ev)
		}
		events[ev] = true
	}
	rc.mu.Unlock()

	// The restarted server records the deliveries as delivered.
	if !waitFor(5*time.Second, func() bool {
		dl = deliveries{}
		s2.must(t, "GET", "/v1/webhooks/"+hook.WebhookID+"/deliveries?limit=100", m.token, nil, http.StatusOK, &dl)
		for _, d := range dl.Deliveries {
			if d.State != coffer.DeliveryDelivered {
				return false
			}
		}
		return len(dl.Deliveries) == len(acked)
	}) {
		t.Errorf("deliveries after the restart: got %+v, want %d delivered", dl.Deliveries, len(acked))
	}
	for _, d := range dl.Deliveries {
		if !events[d.EventID] {
			t.Errorf("delivery %s: its event ID is not one the receiver got", d.EventID)
		}
	}
}
