package httpapi

import (
	"net/http"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// ConfirmationHeader carries the proof for a change that needs a
// confirmation.
const ConfirmationHeader = "Coffer-Confirmation"

func actor(r *http.Request, p *Principal) app.Actor {
	return app.Actor{MemberID: p.MemberID, IP: clientIP(r), Method: p.Method, Proof: r.Header.Get(ConfirmationHeader)}
}

func notificationsJSON(n coffer.Notifications) map[string]bool {
	return map[string]bool{"login": n.Login, "incoming_payment": n.IncomingPayment, "security": n.Security}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, p *Principal) error {
	st, err := s.svc.Settings(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"ip_ranges": st.IPRanges, "notifications": notificationsJSON(st.Notify),
		"new_device_confirmation": st.NewDeviceConfirmation})
}

func (s *Server) putNewDevice(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return coffer.Errorf(coffer.EINVALID, "enabled (true or false) is required.")
	}
	if err := s.svc.SetNewDeviceConfirmation(r.Context(), actor(r, p), *in.Enabled); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"new_device_confirmation": *in.Enabled})
}

func (s *Server) getIPRanges(w http.ResponseWriter, r *http.Request, p *Principal) error {
	st, err := s.svc.Settings(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"ip_ranges": st.IPRanges, "your_ip": clientIP(r)})
}

func (s *Server) putIPRanges(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		IPRanges *[]string `json:"ip_ranges"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.IPRanges == nil {
		return coffer.Errorf(coffer.EINVALID, "ip_ranges is required (an empty list allows every address).")
	}
	list, err := s.svc.SetIPRanges(r.Context(), actor(r, p), *in.IPRanges)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"ip_ranges": list, "your_ip": clientIP(r)})
}

func (s *Server) unblock(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var in struct {
		MemberID string `json:"member_id"`
		Code     string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.MemberID == "" || in.Code == "" {
		return coffer.Errorf(coffer.EINVALID, "member_id and code are required.")
	}
	ip := clientIP(r)
	if err := s.svc.Unblock(r.Context(), in.MemberID, in.Code, ip); err != nil {
		return err
	}
	single, _ := coffer.SingleIPRange(ip)
	return writeJSON(w, http.StatusOK, map[string]any{"added": single})
}

func (s *Server) getNotifications(w http.ResponseWriter, r *http.Request, p *Principal) error {
	st, err := s.svc.Settings(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, notificationsJSON(st.Notify))
}

func (s *Server) putNotifications(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		Login           *bool `json:"login"`
		IncomingPayment *bool `json:"incoming_payment"`
		Security        *bool `json:"security"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	st, err := s.svc.Settings(r.Context(), p.MemberID)
	if err != nil {
		return err
	}
	// Fields left out keep their value.
	n := st.Notify
	for _, f := range []struct {
		v   *bool
		dst *bool
	}{{in.Login, &n.Login}, {in.IncomingPayment, &n.IncomingPayment}, {in.Security, &n.Security}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if err := s.svc.SetNotifications(r.Context(), actor(r, p), n); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, notificationsJSON(n))
}

func limitsJSON(v *app.LimitsView) map[string]any {
	f := func(x *int64) any {
		if x == nil {
			return nil
		}
		return coffer.FormatAmount(*x, v.Decimals)
	}
	return map[string]any{"purse": v.Purse, "currency": v.Currency,
		"per_transfer": f(v.Limits.PerTransfer), "per_day": f(v.Limits.PerDay), "per_month": f(v.Limits.PerMonth),
		"spent_today": coffer.FormatAmount(v.SpentToday, v.Decimals), "spent_this_month": coffer.FormatAmount(v.SpentMonth, v.Decimals),
		"remaining_today": f(v.RemainingToday), "remaining_this_month": f(v.RemainingMonth)}
}

func (s *Server) getLimits(w http.ResponseWriter, r *http.Request, p *Principal) error {
	v, err := s.svc.PurseLimits(r.Context(), p.MemberID, r.PathValue("purse"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, limitsJSON(v))
}

func (s *Server) putLimits(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in struct {
		PerTransfer *string `json:"per_transfer"`
		PerDay      *string `json:"per_day"`
		PerMonth    *string `json:"per_month"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.svc.SetPurseLimits(r.Context(), actor(r, p), r.PathValue("purse"),
		app.LimitsInput{PerTransfer: in.PerTransfer, PerDay: in.PerDay, PerMonth: in.PerMonth})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, limitsJSON(v))
}
