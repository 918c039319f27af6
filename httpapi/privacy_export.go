package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// exportAccount answers GET /v1/account/export: everything stored about
// the member, as a download. Secrets (password hash, token hashes, factor
// seeds, recovery-code hashes, protection-code hashes, sealed documents)
// are left out: each field below is named on purpose.
func (s *Server) exportAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	x, err := s.svc.ExportAccount(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="coffer-`+p.MemberID+`.json"`)
	return writeJSON(w, http.StatusOK, s.exportJSON(r.Context(), x))
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func (s *Server) exportJSON(ctx context.Context, x *app.AccountExport) map[string]any {
	m := x.Member
	out := map[string]any{
		"format":       "coffer-account-export/1",
		"generated_at": x.GeneratedAt,
		"member":       map[string]any{"member_id": m.ID, "email": m.Email, "phone": m.Phone, "created_at": m.CreatedAt},
		"status": map[string]any{"level": x.Status.Level, "level_changed_at": timeOrNil(x.Status.LevelChangedAt),
			"roles": nonNil(x.Status.Roles), "only_contacts": x.Status.OnlyContacts, "closed_at": timeOrNil(x.Status.ClosedAt)},
		"profile": map[string]any{"values": x.Profile.Values, "visibility": x.Profile.Visibility,
			"updated_at": timeOrNil(x.Profile.UpdatedAt), "linked_member_ids": nonNil(x.LinkedIDs)},
	}
	purses := []map[string]any{}
	for _, pu := range x.Purses {
		j := s.purseJSON(ctx, pu)
		d := s.svc.Decimals(ctx, pu.Currency)
		hist := []map[string]any{}
		for _, e := range x.History[pu.Number] {
			hist = append(hist, map[string]any{"transfer_id": e.TransferID, "counterparty": e.Counterparty,
				"amount": coffer.FormatAmount(e.Amount, d), "kind": e.Kind, "held": e.Held,
				"balance_after": coffer.FormatAmount(e.BalanceAfter, d), "description": e.Description, "created_at": e.CreatedAt})
		}
		j["history"] = hist
		if l := x.Limits[pu.Number]; l != nil {
			lj := map[string]any{"updated_at": l.UpdatedAt}
			for name, v := range map[string]*int64{"per_transfer": l.PerTransfer, "per_day": l.PerDay, "per_month": l.PerMonth} {
				if v != nil {
					lj[name] = coffer.FormatAmount(*v, d)
				}
			}
			j["limits"] = lj
		}
		purses = append(purses, j)
	}
	out["purses"] = purses
	transfers := []map[string]any{}
	for _, t := range x.Transfers {
		transfers = append(transfers, s.transferJSON(ctx, t))
	}
	out["transfers"] = transfers
	held := []map[string]any{}
	for _, t := range x.Held {
		held = append(held, s.transferJSON(ctx, t))
	}
	out["held_transfers"] = held
	invoices := []map[string]any{}
	for _, inv := range x.Invoices {
		d := s.svc.Decimals(ctx, inv.Currency)
		invoices = append(invoices, map[string]any{"invoice_id": inv.ID, "merchant": inv.Merchant, "payer": inv.Payer,
			"purse": inv.Purse, "currency": inv.Currency, "amount": coffer.FormatAmount(inv.Amount, d),
			"description": inv.Description, "order_number": inv.OrderNumber, "state": inv.State,
			"created_at": inv.CreatedAt, "expires_at": inv.ExpiresAt, "updated_at": inv.UpdatedAt})
	}
	out["invoices"] = invoices
	trusts := []map[string]any{}
	for _, t := range x.Trusts {
		j := s.trustJSON(ctx, t)
		j["revoked_at"] = timeOrNil(t.RevokedAt)
		trusts = append(trusts, j)
	}
	out["trusts"] = trusts
	keys := []map[string]any{}
	for _, k := range x.Keys {
		keys = append(keys, map[string]any{"key_id": k.ID, "name": k.Name, "fingerprint": k.Fingerprint(),
			"public_key": k.PublicKey, "created_at": k.CreatedAt, "last_used_at": timeOrNil(k.LastUsedAt), "revoked_at": timeOrNil(k.RevokedAt)})
	}
	out["keys"] = keys
	certs := []map[string]any{}
	for _, c := range x.Certificates {
		certs = append(certs, map[string]any{"certificate_id": c.ID, "serial": c.Serial, "fingerprint": c.Fingerprint,
			"key_type": c.KeyType, "not_before": c.NotBefore, "not_after": c.NotAfter, "created_at": c.CreatedAt,
			"revoked_at": timeOrNil(c.RevokedAt)})
	}
	out["certificates"] = certs
	factors := []map[string]any{}
	for _, f := range x.Factors {
		j := map[string]any{"kind": f.Kind, "verified": f.Verified, "created_at": f.CreatedAt, "verified_at": timeOrNil(f.VerifiedAt)}
		if f.Phone != "" {
			j["phone"] = f.Phone
		}
		factors = append(factors, j)
	}
	unused := 0
	for _, rc := range x.Recovery {
		if rc.UsedAt.IsZero() {
			unused++
		}
	}
	out["factors"] = factors
	out["recovery_codes"] = map[string]int{"total": len(x.Recovery), "unused": unused}
	settings := map[string]any{}
	if x.Policy != nil {
		pj, _ := json.Marshal(x.Policy)
		settings["confirmation_policy"] = json.RawMessage(pj)
	}
	if st := x.Settings; st != nil {
		settings["ip_ranges"] = nonNil(st.IPRanges)
		settings["new_device_confirmation"] = st.NewDeviceConfirmation
		settings["notifications"] = notificationsJSON(st.Notify)
		settings["updated_at"] = timeOrNil(st.UpdatedAt)
	}
	out["settings"] = settings
	sessions := []map[string]any{}
	for _, se := range x.Sessions {
		sessions = append(sessions, sessionJSON(se, se.ExpiresAt))
	}
	out["sessions"] = sessions
	contacts := []map[string]any{}
	for _, c := range x.Contacts {
		contacts = append(contacts, contactJSON(c))
	}
	out["contacts"] = contacts
	disc := []map[string]any{}
	for _, d := range x.Disclosures {
		disc = append(disc, disclosureJSON(d))
	}
	out["disclosure_requests"] = disc
	ver := []map[string]any{}
	for _, v := range x.Verification {
		docs := []map[string]any{}
		for _, d := range v.Documents {
			docs = append(docs, map[string]any{"document_id": d.ID, "content_type": d.ContentType, "size": d.Size,
				"sha256": hex.EncodeToString(d.SHA256), "created_at": d.CreatedAt})
		}
		ver = append(ver, map[string]any{"request_id": v.ID, "values": v.Values, "state": v.State, "level": v.Level,
			"reason": v.Reason, "created_at": v.CreatedAt, "decided_at": timeOrNil(v.DecidedAt), "documents": docs})
	}
	out["verification_requests"] = ver
	events := []map[string]any{}
	for _, e := range x.Events {
		events = append(events, map[string]any{"event_id": e.Seq, "kind": e.Kind, "at": e.At, "detail": json.RawMessage(e.Detail)})
	}
	out["audit_events"] = events
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
