package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCofferd_ClockStepsBack runs transfers, restarts the server with its
// clock two hours back and runs more: the new transfers are stamped no
// earlier than the last one before the restart, so every history stays in
// order and a statement since that time holds them; the jump is logged and
// counted in coffer_clock_backward_jumps_total; `cofferd check` passes.
func TestCofferd_ClockStepsBack(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	e := newEconomy(t, s, 3)
	send := func(s *e2eServer, round, n int) {
		t.Helper()
		for i := range n {
			from, to := e.members[i%3], e.members[(i+1)%3]
			s.must(t, "POST", "/v1/transfers", from.token, map[string]string{"transfer_id": fmt.Sprintf("clock-%d-%d", round, i),
				"from": from.purse, "to": to.purse, "amount": "1.00"}, http.StatusCreated, nil)
		}
	}
	send(s, 1, 6)
	type entry struct {
		TransferID string    `json:"transfer_id"`
		CreatedAt  time.Time `json:"created_at"`
	}
	history := func(s *e2eServer, m *e2eMember, query string) []entry {
		t.Helper()
		var h struct{ Entries []entry }
		s.must(t, "GET", "/v1/purses/"+m.purse+"/history?limit=500"+query, m.token, nil, http.StatusOK, &h)
		return h.Entries
	}
	last := history(s, e.members[0], "")[0].CreatedAt // the newest entry before the restart
	if code := s.stop(); code != 0 {
		t.Fatalf("cofferd after SIGTERM: got exit %d, want 0", code)
	}

	s = startServerWith(t, data, "--test-clock-offset", "-2h")
	for _, m := range append(e.members, e.issuer) {
		m.token = loginMember(t, s, m.id)
	}
	send(s, 2, 6)
	for _, m := range e.members {
		h := history(s, m, "")
		for i := 1; i < len(h); i++ {
			if h[i].CreatedAt.After(h[i-1].CreatedAt) {
				t.Errorf("history of %s: %s at %v is listed after %s at %v", m.purse, h[i].TransferID, h[i].CreatedAt, h[i-1].TransferID, h[i-1].CreatedAt)
			}
		}
		// Every transfer after the restart is in a statement since the
		// last time before it.
		n := 0
		for _, en := range history(s, m, "&since="+last.UTC().Format(time.RFC3339Nano)) {
			if strings.HasPrefix(en.TransferID, "clock-2-") {
				n++
			}
		}
		if n != 4 { // each member sent two and received two
			t.Errorf("history of %s since %v: got %d transfers of after the restart, want 4", m.purse, last, n)
		}
	}
	resp, err := http.Get(s.scrape)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`(?m)^coffer_clock_backward_jumps_total (\d+)$`).FindSubmatch(body); m == nil || string(m[1]) != "1" {
		t.Errorf("metrics: got coffer_clock_backward_jumps_total %q, want 1", m)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	if !strings.Contains(s.stderr.String(), "clock went back") {
		t.Errorf("the jump was not logged; stderr:\n%s", tail(s.stderr.String(), 20))
	}
	checkLedger(t, data)

	// No entry or transfer of the whole ledger is stamped earlier than the
	// one before it.
	db, err := sql.Open("sqlite", filepath.Join(data, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"entries", "transfers"} {
		var back int
		if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT created_at < LAG(created_at) OVER (ORDER BY seq) AS back FROM ` + table + `) WHERE back`).Scan(&back); err != nil {
			t.Fatal(err)
		}
		if back != 0 {
			t.Errorf("%s: %d stamped earlier than the one before, want 0", table, back)
		}
	}
}
