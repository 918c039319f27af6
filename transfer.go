package coffer

// CheckTransfer applies the rules of a transfer that do not depend on
// balances: both purses exist (nil means not found), differ, the sender owns
// the sending one, both hold one currency, and the amount is in range. The
// ledger engine applies it inside its batch; a transfer waiting for
// confirmation is checked with it before the member is asked for a code.
// Errors: ESAMEPURSE, EPURSENOTFOUND, EFORBIDDEN, ECURRENCYMISMATCH,
// EINVALIDAMOUNT.
func CheckTransfer(r *TransferRequest, from, to *Purse) error {
	if r.From == r.To {
		return Errorf(ESAMEPURSE, "The sending and receiving purse must differ.")
	}
	// A missing purse and another member's purse are told apart: purse
	// owners are public (the payee check), so nothing is hidden by merging.
	if from == nil {
		return Errorf(EPURSENOTFOUND, "Purse %s does not exist.", r.From)
	}
	// A trust debit comes from the merchant; the engine checks the trust.
	if from.Owner != r.Sender && r.TrustID == "" {
		return Errorf(EFORBIDDEN, "Purse %s is not yours.", r.From)
	}
	if to == nil {
		return Errorf(EPURSENOTFOUND, "Purse %s does not exist.", r.To)
	}
	if from.Currency != to.Currency {
		return Errorf(ECURRENCYMISMATCH, "Purse %s holds %s and purse %s holds %s.", from.Number, from.Currency, to.Number, to.Currency)
	}
	if r.Amount <= 0 || r.Amount > MaxAmount {
		return Errorf(EINVALIDAMOUNT, "The amount is out of range.")
	}
	return nil
}
