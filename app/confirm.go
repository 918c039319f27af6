package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/otp"
)

// Pending is a confirmation the member has to answer. It travels as the
// cause of an ECONFIRMATIONREQUIRED error, so that the HTTP layer can
// answer 202 for logins and transfers and name the confirmation in the
// problem of a step-up.
type Pending struct {
	ID         string
	Purpose    string
	Method     string   // the method offered first
	Methods    []string // every method that can answer it
	Challenge  string   // the OCRA challenge, for transfers with a generator
	TransferID string
	ExpiresAt  time.Time

	// For a transfer: what it will take from the sender's purse.
	Amount, Fee int64
	Currency    string
	Decimals    int
}

func (p *Pending) Error() string { return "confirmation " + p.ID + " pending" }

func pendingError(p *Pending, msg string) error {
	return &coffer.Error{Code: coffer.ECONFIRMATIONREQUIRED, Message: msg, Err: p}
}

var (
	// errWrongCode is the one answer for a code that does not confirm,
	// whatever factor it was meant for.
	errExpired = coffer.Errorf(coffer.ECONFIRMATIONVOID, "The confirmation has expired; start over.")
)

func errVoid(err error) error {
	if err != nil {
		return err
	}
	return coffer.Errorf(coffer.ECONFIRMATIONVOID, "The confirmation is no longer pending; start over.")
}

// wrongCode counts a wrong code and says how it stands. The answer never
// tells which factor the code was checked against.
// slot is the code's place in the member's budget (see codebudget.go).
func (s *Service) wrongCode(ctx context.Context, c *coffer.Confirmation, slot *codeSlot) error {
	ev := coffer.NewAuditEvent(s.now(), coffer.AuditConfirmationVoid, c.MemberID,
		map[string]any{"confirmation_id": c.ID, "purpose": c.Purpose, "ref": c.Ref, "reason": "too_many_wrong_codes"})
	after, err := s.store.FailConfirmation(ctx, c.ID, coffer.MaxConfirmAttempts, ev)
	if err != nil {
		return err
	}
	// The member's budget counts it too, across every confirmation.
	if slot != nil {
		if err := slot.failed(ctx, c.Purpose); err != nil {
			return err
		}
	}
	if after.State != coffer.ConfirmPending {
		if after.Attempts == coffer.MaxConfirmAttempts && slot != nil { // a decoy texts no one
			s.notifyVoid(ctx, after)
		}
		return coffer.Errorf(coffer.ECONFIRMATIONVOID, "Too many wrong codes: this confirmation is void. Start over.")
	}
	left := coffer.MaxConfirmAttempts - after.Attempts
	return coffer.Errorf(coffer.ECONFIRMATIONFAILED, "The code does not confirm this request; %d attempts left.", left)
}

// notifyVoid tells the member by SMS, when they have a phone, that a
// confirmation was voided after too many wrong codes.
func (s *Service) notifyVoid(ctx context.Context, c *coffer.Confirmation) {
	m, err := s.memberFactors(ctx, c.MemberID)
	if err != nil || m.phone == nil {
		return
	}
	if err := s.sendSMS(ctx, c.MemberID, m.phone.Phone, "coffer: a "+c.Purpose+" confirmation on your account was blocked after 5 wrong codes. If this was not you, change your password."); err != nil {
		s.log.Warn("sms", "err", err)
	}
}

// checkCode reports whether code answers c with any of the member's
// factors: the SMS code sent for it, the generator (an OCRA answer for a
// transfer, a TOTP code otherwise) or an unused recovery code.
func (s *Service) checkCode(ctx context.Context, m *memberFactors, c *coffer.Confirmation, code string) (bool, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 64 {
		return false, nil
	}
	if c.CodeHash != nil && subtle.ConstantTimeCompare(saltedHash(c.Salt, code), c.CodeHash) == 1 {
		return true, nil
	}
	if m.generator != nil {
		seed, err := s.generatorSeed(m)
		if err != nil {
			return false, err
		}
		if c.Purpose == coffer.PurposeTransfer {
			if c.Challenge != "" && len(code) == 8 {
				want, err := s.factorInit().suite.Answer(seed, otp.Inputs{Question: c.Challenge})
				if err != nil {
					return false, err
				}
				if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
					return true, nil
				}
			}
		} else if len(code) == otp.TOTPDigits {
			if step, ok := otp.ValidateTOTP(seed, code, s.now(), m.generator.LastStep); ok {
				fresh, err := s.store.AdvanceStep(ctx, c.MemberID, step)
				if err != nil {
					return false, err
				}
				s.forgetFactors(c.MemberID)
				if fresh {
					return true, nil
				}
			}
		}
	}
	if rc, ok := normalizeRecovery(code); ok {
		codes, err := s.store.RecoveryCodes(ctx, c.MemberID)
		if err != nil {
			return false, err
		}
		for _, x := range codes {
			if subtle.ConstantTimeCompare(saltedHash(x.Salt, rc), x.Hash) == 1 {
				return s.store.UseRecoveryCode(ctx, c.MemberID, x.ID, s.now(),
					coffer.NewAuditEvent(s.now(), coffer.AuditRecoveryCodeUsed, c.MemberID, map[string]any{"confirmation_id": c.ID}))
			}
		}
	}
	return false, nil
}

// answer checks a code for a live confirmation and marks it done. won is
// false when another request finished it first with a correct code.
func (s *Service) answer(ctx context.Context, c *coffer.Confirmation, code string) (won bool, err error) {
	if c.State == coffer.ConfirmPending && !s.now().Before(c.ExpiresAt) {
		s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmExpired)
		return false, errExpired
	}
	if c.State != coffer.ConfirmPending {
		return false, errVoid(nil)
	}
	if isDecoy(c) {
		// Answered as a real challenge would be, without its budget.
		if err := s.codeLocked(ctx, c.MemberID, s.codeScope(ctx, c.MemberID)); err != nil {
			return false, err
		}
		return false, s.wrongCode(ctx, c, nil)
	}
	// The code takes its place in the member's budget before it is
	// compared: a locked member's codes are refused, the right one too.
	slot, err := s.codeAttempt(ctx, c.MemberID, true)
	if err != nil {
		return false, err
	}
	m, err := s.memberFactors(ctx, c.MemberID)
	if err != nil {
		slot.release(ctx)
		return false, err
	}
	ok, err := s.checkCode(ctx, m, c, code)
	if err != nil {
		slot.release(ctx)
		return false, err
	}
	if !ok {
		return false, s.wrongCode(ctx, c, slot)
	}
	slot.release(ctx)
	return s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmDone)
}

// newConfirmation creates a confirmation for m and sends the SMS code
// when the member's first method is SMS.
func (s *Service) newConfirmation(ctx context.Context, m *memberFactors, memberID, purpose, ref, body, smsText string) (*coffer.Confirmation, error) {
	if err := s.confirmationBudget(ctx, memberID); err != nil {
		return nil, err
	}
	now := s.now()
	c := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: memberID, Purpose: purpose, Ref: ref, Body: body,
		State: coffer.ConfirmPending, CreatedAt: now, ExpiresAt: now.Add(coffer.ConfirmationTTL)}
	if ref == "" {
		c.Ref = c.ID
	}
	methods := m.methods(purpose, false)
	c.Method = methods[0]
	var code string
	if m.phone != nil && c.Method == coffer.MethodSMS {
		code = newDigitCode(6)
		c.Salt = newSalt()
		c.CodeHash = saltedHash(c.Salt, code)
	}
	if purpose == coffer.PurposeTransfer && m.generator != nil {
		var t coffer.TransferRequest
		json.Unmarshal([]byte(body), &t)
		c.Challenge = s.transferChallenge(c.ID, &t)
	}
	if err := s.store.CreateConfirmation(ctx, c); err != nil {
		return nil, err
	}
	if code != "" {
		if err := s.sendSMS(ctx, memberID, m.phone.Phone, strings.ReplaceAll(smsText, "{code}", code)); err != nil {
			// A confirmation whose code never left is worthless: end it, so
			// that a retry once the SMS limits allow makes a new one and
			// sends its code instead of pointing at this one.
			if _, ferr := s.store.FinishConfirmation(context.WithoutCancel(ctx), c.ID, coffer.ConfirmExpired); ferr != nil {
				s.log.Warn("end a confirmation whose SMS was not sent", "confirmation", c.ID, "err", ferr)
			}
			return nil, err
		}
	}
	return c, nil
}

// transferChallenge derives the OCRA challenge of a transfer from what it
// pays and to whom, so the member's generator shows and binds them:
// "<payee purse>/<amount>/<number>", the number tied to the confirmation
// and transfer IDs. A changed payee or amount changes the challenge.
func (s *Service) transferChallenge(confirmationID string, t *coffer.TransferRequest) string {
	h := sha256.Sum256([]byte(confirmationID + "\x00" + t.TransferID + "\x00" + t.From + "\x00" + t.To + "\x00" + fmt.Sprint(t.Amount)))
	n := binary.BigEndian.Uint64(h[:8]) % 100000000
	cur, _ := s.CurrencyOfPurse(context.Background(), t.From)
	amount := fmt.Sprint(t.Amount)
	if cur != nil {
		amount = coffer.FormatAmount(t.Amount, cur.Decimals) + cur.Code
	}
	return fmt.Sprintf("%s/%s/%08d", t.To, amount, n)
}

func (s *Service) pendingOf(m *memberFactors, c *coffer.Confirmation) *Pending {
	p := &Pending{ID: c.ID, Purpose: c.Purpose, Method: c.Method, Methods: m.methods(c.Purpose, true),
		Challenge: c.Challenge, ExpiresAt: c.ExpiresAt}
	if c.Purpose == coffer.PurposeTransfer {
		p.TransferID = c.Ref
	}
	return p
}

// loginChallenge is called after a correct password. It returns a
// ECONFIRMATIONREQUIRED error carrying the challenge when the member's
// policy wants a second factor, and nil when the password is enough.
func (s *Service) loginChallenge(ctx context.Context, memberID, ip, ua string) error {
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return err
	}
	if !m.any() {
		return nil
	}
	if m.policy.Login != coffer.LoginSecondFactor {
		// Password alone is the member's choice, except from an address
		// never seen before when they asked for new-device activation.
		newDevice, err := s.unknownDevice(ctx, memberID, ip)
		if err != nil {
			return err
		}
		if !newDevice {
			return nil
		}
	}
	b, _ := json.Marshal(loginBody{IP: ip, UserAgent: ua})
	c, err := s.newConfirmation(ctx, m, memberID, coffer.PurposeLogin, "", string(b),
		"coffer: your login code is {code}. It is valid for 5 minutes. Never tell it to anyone.")
	if err != nil {
		return err
	}
	s.audit(ctx, coffer.AuditLoginChallenged, memberID, map[string]any{"ip": ip, "challenge_id": c.ID})
	return pendingError(s.pendingOf(m, c), "Enter a one-time code to finish logging in.")
}

// loginBody is what a login challenge stores as its body.
type loginBody struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	// Decoy marks a challenge given for a wrong password while the member
	// is held by failures across addresses: it looks like a real one, and
	// no code answers it (see Login).
	Decoy bool `json:"decoy,omitempty"`
}

// heldChallenge answers a login while only the budget across addresses
// holds the member (see Login): right password or wrong, a challenge for
// the member's code generator, made and answered the same way, except that
// no code answers a decoy (one given for a wrong password). Neither sends
// an SMS or spends the member's confirmation budget, so nothing a stranger
// can see tells the password, and a stranger spends nothing of the
// member's. Errors: ECONFIRMATIONREQUIRED (carrying *Pending), ERATELIMITED
// (code entry locked, for both alike).
func (s *Service) heldChallenge(ctx context.Context, memberID, ip, ua string, decoy bool) error {
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return err
	}
	if err := s.codeLocked(ctx, memberID, s.codeScope(ctx, memberID)); err != nil {
		return err
	}
	now := s.now()
	b, _ := json.Marshal(loginBody{IP: ip, UserAgent: ua, Decoy: decoy})
	c := &coffer.Confirmation{ID: coffer.NewConfirmationID(), MemberID: memberID, Purpose: coffer.PurposeLogin, Body: string(b),
		Method: coffer.MethodTOTP, State: coffer.ConfirmPending, CreatedAt: now, ExpiresAt: now.Add(coffer.ConfirmationTTL)}
	c.Ref = c.ID
	if err := s.store.CreateConfirmation(ctx, c); err != nil {
		return err
	}
	s.audit(ctx, coffer.AuditLoginChallenged, memberID, map[string]any{"ip": ip, "challenge_id": c.ID})
	return pendingError(s.pendingOf(m, c), "Enter a one-time code to finish logging in.")
}

func isDecoy(c *coffer.Confirmation) bool {
	if c.Purpose != coffer.PurposeLogin {
		return false
	}
	var b loginBody
	return json.Unmarshal([]byte(c.Body), &b) == nil && b.Decoy
}

// ConfirmLogin answers a login challenge and opens the session.
// Errors: ENOTFOUND, ECONFIRMATIONFAILED, ECONFIRMATIONVOID.
func (s *Service) ConfirmLogin(ctx context.Context, challengeID, code, ip, ua string) (string, *coffer.Session, error) {
	c, err := s.store.Confirmation(ctx, challengeID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND || (err == nil && c.Purpose != coffer.PurposeLogin) {
		return "", nil, coffer.Errorf(coffer.ENOTFOUND, "There is no such login challenge.")
	}
	if err != nil {
		return "", nil, err
	}
	won, err := s.answer(ctx, c, code)
	if err != nil {
		return "", nil, err
	}
	if !won {
		return "", nil, errVoid(nil)
	}
	token, sess, err := s.openSession(ctx, c.MemberID, ip, ua)
	if err == nil {
		s.audit(ctx, coffer.AuditLoginSucceeded, c.MemberID, map[string]any{"ip": ip, "session_id": sess.ID, "method": "password+second_factor"})
		s.loginSucceeded(ctx, c.MemberID, ip, "password+second_factor")
	}
	return token, sess, err
}

// needsConfirmation applies the member's policy to a transfer.
func (s *Service) needsConfirmation(ctx context.Context, m *memberFactors, req *coffer.TransferRequest, strong bool) (bool, error) {
	p := m.policy
	if strong && !p.ConfirmSigned {
		return false, nil
	}
	for _, x := range p.ExemptPayees {
		if x == req.To {
			return false, nil
		}
	}
	switch p.Transfers {
	case coffer.TransfersNever:
		return false, nil
	case coffer.TransfersAbove:
		cur, err := s.CurrencyOfPurse(ctx, req.From)
		if err != nil {
			return false, err
		}
		limit, err := coffer.ParseAmount(p.Threshold, cur.Decimals)
		if err != nil {
			return true, nil
		}
		return req.Amount > limit, nil
	case coffer.TransfersNewPayee:
		paid, err := s.store.PaidBefore(ctx, req.Sender, req.To)
		return !paid, err
	}
	return true, nil
}

// gateTransfer decides whether a validated transfer may go to the ledger
// now. It returns nil to go ahead, or ECONFIRMATIONREQUIRED with the
// pending transfer, or EIDEMPOTENCYCONFLICT when the transfer ID waits for
// confirmation with another body.
// code is a protected transfer's code as the sender typed it ("" for
// none): a pending protected transfer is stored with a salted hash, so a
// retry is told apart from a conflict by checking the code against it.
func (s *Service) gateTransfer(ctx context.Context, req *coffer.TransferRequest, strong, resend bool, code string) error {
	m, err := s.memberFactors(ctx, req.Sender)
	if err != nil {
		return err
	}
	if !m.any() {
		if s.cfg.Factors.RequireSecondFactor && !strong {
			return coffer.Errorf(coffer.ECONFIRMATIONREQUIRED, "This server requires a second factor for transfers: add a phone or a code generator under /v1/security first.")
		}
		return nil
	}
	need, err := s.needsConfirmation(ctx, m, req, strong)
	if err != nil || !need {
		return err
	}
	// Already applied (or applied by a confirm): let the engine answer
	// the retry or the conflict.
	if t, err := s.store.Transfer(ctx, req.Sender, req.TransferID, req.From); err == nil && t.Sender == req.Sender {
		return nil
	} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return err
	}
	if err := s.precheck(ctx, req); err != nil {
		return err
	}
	body, _ := json.Marshal(req)
	c, err := s.store.ConfirmationByRef(ctx, req.Sender, coffer.PurposeTransfer, req.TransferID)
	if err == nil && c.State == coffer.ConfirmPending && !c.Live(s.now()) {
		// Expired unconfirmed: it moved nothing; the ID is free again.
		if _, err := s.store.FinishConfirmation(ctx, c.ID, coffer.ConfirmExpired); err != nil {
			return err
		}
		c.State = coffer.ConfirmExpired
	}
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
	case err != nil:
		return err
	case !s.samePending(c.Body, req, code) && (c.State == coffer.ConfirmPending || c.State == coffer.ConfirmDone):
		return coffer.Errorf(coffer.EIDEMPOTENCYCONFLICT, "Transfer ID %s is already used for a different transfer.", req.TransferID)
	case c.State == coffer.ConfirmDone:
		return nil // confirmed: the engine applies it or answers the replay
	case c.Live(s.now()):
		if resend && c.CodeHash != nil && m.phone != nil {
			code := newDigitCode(6)
			salt := newSalt()
			if ok, err := s.store.ResendConfirmation(ctx, c.ID, salt, saltedHash(salt, code), s.now().Add(coffer.ConfirmationTTL)); err != nil {
				return err
			} else if ok {
				if err := s.sendSMS(ctx, req.Sender, m.phone.Phone, s.transferSMS(ctx, req, code)); err != nil {
					return err
				}
				c, _ = s.store.Confirmation(ctx, c.ID)
			}
		}
		return pendingError(s.transferPending(ctx, m, c, req), "Confirm the transfer with a one-time code.")
	}
	c, err = s.newConfirmation(ctx, m, req.Sender, coffer.PurposeTransfer, req.TransferID, string(body), s.transferSMS(ctx, req, "{code}"))
	if coffer.ErrorCode(err) == coffer.ECONFLICT {
		// A parallel identical request created it first: answer the same.
		return s.gateTransfer(ctx, req, strong, false, code)
	}
	if err != nil {
		return err
	}
	s.audit(ctx, coffer.AuditTransferPending, req.Sender, map[string]any{"transfer_id": req.TransferID, "confirmation_id": c.ID, "method": c.Method})
	return pendingError(s.transferPending(ctx, m, c, req), "Confirm the transfer with a one-time code.")
}

// samePending reports whether req asks for what the pending transfer
// stored as body does. A protected transfer's code is stored salted and
// its period as an end time, so those are compared by code and whole days.
func (s *Service) samePending(body string, req *coffer.TransferRequest, code string) bool {
	if req.Protect == nil {
		b, _ := json.Marshal(req)
		return string(b) == body
	}
	var old coffer.TransferRequest
	if err := json.Unmarshal([]byte(body), &old); err != nil || old.Protect == nil {
		return false
	}
	t := &coffer.Transfer{From: old.From, To: old.To, Amount: old.Amount, Description: old.Description,
		InvoiceID: old.InvoiceID, TrustID: old.TrustID, RefundOf: old.RefundOf, Protection: old.Protect, CreatedAt: s.now()}
	return t.Matches(req) && (!old.Protect.ByCode || old.Protect.CheckCode(code))
}

// transferPending is the pending answer of a transfer, with the fee it
// will carry as the rules stand now.
func (s *Service) transferPending(ctx context.Context, m *memberFactors, c *coffer.Confirmation, req *coffer.TransferRequest) *Pending {
	p := s.pendingOf(m, c)
	p.Amount = req.Amount
	if cur, err := s.CurrencyOfPurse(ctx, req.From); err == nil {
		p.Currency, p.Decimals = cur.Code, cur.Decimals
	}
	if fee, err := s.feeFor(ctx, req); err == nil {
		p.Fee = fee
	} else {
		s.log.Warn("fee of pending transfer", "err", err)
	}
	return p
}

// precheck refuses, before asking for a code or sending an SMS, a transfer
// the ledger would refuse now: its shape first, then a dry run in the
// engine (funds, currency, limits, closed purses, invoice and trust
// states), with the same codes and texts as the engine gives. The engine
// decides again when the confirmed transfer is applied.
func (s *Service) precheck(ctx context.Context, req *coffer.TransferRequest) error {
	if err := s.precheckShape(ctx, req); err != nil {
		return err
	}
	if err := s.applyLevel(ctx, req); err != nil {
		return err
	}
	// A debit under a trust takes from another member's purse: answering
	// it early would let the merchant read the owner's balance and limits
	// a probe at a time, moving nothing. Its refusals come only when a
	// confirmed debit is applied, as they always did.
	if s.engine == nil || req.TrustID != "" {
		return nil
	}
	res := s.engine.Check(ctx, req)
	if res.Err != nil && ctx.Err() != nil {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request ended before the transfer was checked; retry.", Err: res.Err}
	}
	return res.Err
}

func (s *Service) precheckShape(ctx context.Context, req *coffer.TransferRequest) error {
	var from, to *coffer.Purse
	if req.From != req.To {
		for _, x := range []struct {
			number string
			dst    **coffer.Purse
		}{{req.From, &from}, {req.To, &to}} {
			p, err := s.store.Purse(ctx, x.number)
			if err != nil && coffer.ErrorCode(err) != coffer.EPURSENOTFOUND {
				return err
			}
			*x.dst = p
		}
	}
	return coffer.CheckTransfer(req, from, to)
}

func (s *Service) transferSMS(ctx context.Context, req *coffer.TransferRequest, code string) string {
	amount := fmt.Sprint(req.Amount)
	if cur, err := s.CurrencyOfPurse(ctx, req.From); err == nil {
		amount = coffer.FormatAmount(req.Amount, cur.Decimals) + " " + cur.Code
		if fee, err := s.feeFor(ctx, req); err == nil && fee > 0 {
			amount += " (fee " + coffer.FormatAmount(fee, cur.Decimals) + " " + cur.Code + ")"
		}
	}
	return "coffer: code " + code + " confirms paying " + amount + " to " + req.To + ". Valid for 5 minutes. Never tell it to anyone."
}

// ConfirmTransfer answers a pending transfer's confirmation and applies
// the transfer through the ledger engine with its transfer ID, so a retry
// after success returns the applied transfer (replayed true).
// Errors: ENOTFOUND, ECONFIRMATIONFAILED, ECONFIRMATIONVOID and those of
// Transfer.
func (s *Service) ConfirmTransfer(ctx context.Context, memberID, transferID, code string) (*coffer.Transfer, bool, error) {
	c, err := s.store.ConfirmationByRef(ctx, memberID, coffer.PurposeTransfer, transferID)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, false, coffer.Errorf(coffer.ENOTFOUND, "No transfer %s waits for confirmation.", transferID)
	}
	if err != nil {
		return nil, false, err
	}
	if c.State != coffer.ConfirmDone {
		won, err := s.answer(ctx, c, code)
		if err != nil {
			return nil, false, err
		}
		if !won {
			// Another request confirmed it at the same moment, or voided it.
			if c, err = s.store.Confirmation(ctx, c.ID); err != nil {
				return nil, false, err
			}
			if c.State != coffer.ConfirmDone {
				return nil, false, errVoid(nil)
			}
		}
	}
	var req coffer.TransferRequest
	if err := json.Unmarshal([]byte(c.Body), &req); err != nil {
		return nil, false, fmt.Errorf("confirm transfer: %w", err)
	}
	if err := s.applyLevel(ctx, &req); err != nil { // the level now, not when it was asked for
		s.endRefusedConfirmation(ctx, &req, err)
		return nil, false, err
	}
	// The answer is awaited even when the client goes away: a refusal must
	// end the confirmation, or a retry after the cause is gone would apply
	// on this code without a new one. A batch commits in milliseconds.
	res := s.engine.Submit(context.WithoutCancel(ctx), &req)
	s.endRefusedConfirmation(context.WithoutCancel(ctx), &req, res.Err)
	if res.Err != nil && ctx.Err() != nil {
		return nil, false, &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The request ended before the transfer was confirmed; retry to learn its outcome.", Err: res.Err}
	}
	return res.Transfer, res.Replayed, res.Err
}

// endRefusedConfirmation ends the confirmation of a transfer the ledger
// refused: the code confirmed that payment now, and a retry after the
// cause is fixed (money added, a limit raised) must be confirmed again,
// not slip through on the old code. A storage failure (unavailable) is
// not a refusal: the retry learns the outcome under the same confirmation.
func (s *Service) endRefusedConfirmation(ctx context.Context, req *coffer.TransferRequest, err error) {
	if err == nil || coffer.ErrorCode(err) == coffer.EUNAVAILABLE || coffer.ErrorCode(err) == coffer.EINTERNAL {
		return
	}
	c, cerr := s.store.ConfirmationByRef(ctx, req.Sender, coffer.PurposeTransfer, req.TransferID)
	if cerr != nil || c.State != coffer.ConfirmDone {
		return
	}
	if _, cerr := s.store.VoidConfirmation(context.WithoutCancel(ctx), c.ID); cerr != nil {
		s.log.Warn("end the confirmation of a refused transfer", "confirmation", c.ID, "err", cerr)
	}
}

// Change is what a step-up confirmation authorises: an action and the new
// values it sets. The confirmation is bound to a hash of both, so a code
// given for one change cannot authorise another (a thief who sees the
// member confirm "add a key" cannot swap in "turn confirmation off").
type Change struct {
	// Action is the stable name of the kind of change ("add_key").
	Action string
	// Summary is the change in a few words, named in the SMS and the
	// answer so the member knows what the code confirms.
	Summary string
	// Values are the new values; their JSON is hashed into the binding.
	// nil for an action that carries none (new recovery codes).
	Values any
}

// binding is the hash a step-up confirmation carries for ch.
func (ch Change) binding() string {
	v, _ := json.Marshal(ch.Values)
	h := sha256.Sum256([]byte("coffer step-up\x00" + ch.Action + "\x00" + string(v)))
	return hex.EncodeToString(h[:])
}

// stepUpBody is what a step-up confirmation stores as its body.
type stepUpBody struct {
	Change  string `json:"change"`
	Summary string `json:"summary,omitempty"`
}

// RequireConfirmation checks that a sensitive change by a member (a
// security setting, a key, phone or generator, turning confirmation off)
// carries a valid confirmation by an already enrolled factor, made for this
// very change. proof is what the client sent in the Coffer-Confirmation
// header: "<confirmation_id>:<code>". A member without any factor
// (bootstrap) needs none. Without a valid proof it creates a confirmation
// for the change and returns ECONFIRMATIONREQUIRED carrying a *Pending; a
// proof made for other values is refused without spending its code.
// Errors: ECONFIRMATIONREQUIRED, ECONFIRMATIONFAILED, ECONFIRMATIONVOID,
// ERATELIMITED.
func (s *Service) RequireConfirmation(ctx context.Context, memberID string, ch Change, proof string) error {
	m, err := s.memberFactors(ctx, memberID)
	if err != nil {
		return err
	}
	if !m.any() {
		return nil
	}
	ref := "stepup:" + ch.Action
	binding := ch.binding()
	if id, code, ok := strings.Cut(strings.TrimSpace(proof), ":"); ok {
		c, err := s.store.Confirmation(ctx, strings.TrimSpace(id))
		if err == nil && c.MemberID == memberID && c.Purpose == coffer.PurposeAction && c.Ref == ref {
			var body stepUpBody
			json.Unmarshal([]byte(c.Body), &body)
			if subtle.ConstantTimeCompare([]byte(body.Change), []byte(binding)) != 1 {
				return coffer.Errorf(coffer.ECONFIRMATIONFAILED, "This confirmation was given for another change (%s), not for this one; repeat the request without it to get a confirmation for this change.", body.Summary)
			}
			won, err := s.answer(ctx, c, code)
			if err != nil {
				return err
			}
			if won {
				return nil
			}
			return errVoid(nil)
		} else if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
			return err
		}
	}
	if old, err := s.store.ConfirmationByRef(ctx, memberID, coffer.PurposeAction, ref); err == nil && old.State == coffer.ConfirmPending {
		if _, err := s.store.FinishConfirmation(ctx, old.ID, coffer.ConfirmExpired); err != nil {
			return err
		}
	}
	summary := ch.Summary
	if summary == "" {
		summary = strings.ReplaceAll(ch.Action, "_", " ")
	}
	if len(summary) > 100 {
		summary = summary[:97] + "..."
	}
	body, _ := json.Marshal(stepUpBody{Change: binding, Summary: summary})
	c, err := s.newConfirmation(ctx, m, memberID, coffer.PurposeAction, ref, string(body),
		"coffer: code {code} confirms this change to your account: "+summary+". Valid for 5 minutes. Never tell it to anyone.")
	if err != nil {
		return err
	}
	p := s.pendingOf(m, c)
	return pendingError(p, "This change ("+summary+") needs a confirmation: repeat the same request with the header Coffer-Confirmation: "+c.ID+":<code>, the code from your "+strings.Join(p.Methods, ", ")+".")
}

// IsPending returns the pending confirmation an error carries.
func IsPending(err error) (*Pending, bool) {
	var p *Pending
	ok := errors.As(err, &p)
	return p, ok
}

// policySummary names a confirmation policy in a few words, for the SMS.
func policySummary(p *coffer.ConfirmationPolicy) string {
	t := p.Transfers
	if t == coffer.TransfersAbove {
		t += " " + p.Threshold
	}
	out := "confirmation policy: login " + p.Login + ", transfers " + t
	if len(p.ExemptPayees) > 0 {
		out += ", never for " + strings.Join(p.ExemptPayees, " ")
	}
	if p.ConfirmSigned {
		out += ", signed too"
	}
	return out
}

// ipRangesSummary names the allowed ranges being set, for the SMS.
func ipRangesSummary(list []string) string {
	if len(list) == 0 {
		return "allow access from any address"
	}
	return "allow access only from " + strings.Join(list, ", ")
}

func onOff(what string, on bool) string {
	if on {
		return "turn " + what + " on"
	}
	return "turn " + what + " off"
}
