package httpapi

import (
	"net/http"
	"strconv"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

func webhookJSON(w *coffer.Webhook) map[string]any {
	return map[string]any{"webhook_id": w.ID, "url": w.URL, "events": w.Events, "signing": w.Signing, "created_at": w.CreatedAt}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		URL     string   `json:"url"`
		Events  []string `json:"events"`
		Signing string   `json:"signing"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	nw, err := s.svc.CreateWebhook(r.Context(), p.MemberID, app.WebhookInput{URL: in.URL, Events: in.Events, Signing: in.Signing, Proof: proof(r)})
	if err != nil {
		return err
	}
	out := webhookJSON(nw.Webhook)
	if nw.Secret != "" {
		out["secret"] = nw.Secret
	} else {
		out["public_key"], out["key_id"] = nw.PublicKey, nw.KeyID
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	list, err := s.svc.Webhooks(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, h := range list {
		out = append(out, webhookJSON(h))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.svc.DeleteWebhook(r.Context(), p.MemberID, r.PathValue("webhook_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, p *Principal) error {
	q := r.URL.Query()
	var before int64
	limit := 50
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return coffer.Errorf(coffer.EINVALID, "cursor is not one this server gave.")
		}
		before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return coffer.Errorf(coffer.EINVALID, "limit must be a whole number from 1 to 100.")
		}
		limit = n
	}
	list, err := s.svc.WebhookDeliveries(r.Context(), p.MemberID, r.PathValue("webhook_id"), before, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		attempts := make([]map[string]any, 0, len(d.Attempts))
		for _, a := range d.Attempts {
			attempts = append(attempts, map[string]any{"at": a.At, "status_code": a.StatusCode, "error": a.Error, "duration_ms": a.Duration.Milliseconds()})
		}
		e := map[string]any{"event_id": d.EventID, "type": d.Type, "created_at": d.CreatedAt, "state": d.State, "attempts": attempts}
		if d.State == coffer.DeliveryPending {
			e["next_attempt_at"] = d.NextAt
		}
		out = append(out, e)
	}
	next := ""
	if len(list) == limit {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "next_cursor": next})
}
