package app

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/coffer-money/coffer"
)

// CurrencyLister is what the currency table reads from the store.
type CurrencyLister interface {
	Currencies(ctx context.Context) ([]*coffer.Currency, error)
}

// Currencies is the table of currencies the service and the ledger engine
// share (the engine formats amounts in its messages and sets the daily
// limits of the verification levels with it). It reloads from the store
// when it is older than a few seconds or when a lookup misses, so
// currencies added by `cofferd admin` on a running server are seen without
// a restart. It is safe for concurrent use.
type Currencies struct {
	store CurrencyLister

	mu       sync.RWMutex
	byCode   map[string]*coffer.Currency
	byLetter map[byte]*coffer.Currency
	loaded   time.Time
}

// NewCurrencies returns the currency table of store, loaded on first use.
func NewCurrencies(store CurrencyLister) *Currencies {
	return &Currencies{store: store}
}

func (c *Currencies) load(ctx context.Context, force bool) error {
	c.mu.RLock()
	fresh := c.byCode != nil && time.Since(c.loaded) < 5*time.Second
	c.mu.RUnlock()
	if fresh && !force {
		return nil
	}
	list, err := c.store.Currencies(ctx)
	if err != nil {
		return err
	}
	byCode := map[string]*coffer.Currency{}
	byLetter := map[byte]*coffer.Currency{}
	for _, cur := range list {
		byCode[cur.Code] = cur
		byLetter[cur.Letter] = cur
	}
	c.mu.Lock()
	c.byCode, c.byLetter, c.loaded = byCode, byLetter, time.Now()
	c.mu.Unlock()
	return nil
}

// lookup finds a currency with find, reloading the table once when it
// misses; nil when it is not there after the reload.
func (c *Currencies) lookup(ctx context.Context, find func() *coffer.Currency) (*coffer.Currency, error) {
	for _, force := range []bool{false, true} {
		if err := c.load(ctx, force); err != nil {
			return nil, err
		}
		c.mu.RLock()
		cur := find()
		c.mu.RUnlock()
		if cur != nil {
			return cur, nil
		}
	}
	return nil, nil
}

// ByCode finds a currency by code. Errors: ECURRENCYNOTFOUND.
func (c *Currencies) ByCode(ctx context.Context, code string) (*coffer.Currency, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	cur, err := c.lookup(ctx, func() *coffer.Currency { return c.byCode[code] })
	if err == nil && cur == nil {
		err = coffer.Errorf(coffer.ECURRENCYNOTFOUND, "There is no currency %q.", code)
	}
	return cur, err
}

// OfPurse returns the currency a purse number's letter stands for.
// Errors: EPURSENOTFOUND.
func (c *Currencies) OfPurse(ctx context.Context, number string) (*coffer.Currency, error) {
	if !coffer.ValidPurseNumber(number) {
		return nil, coffer.Errorf(coffer.EPURSENOTFOUND, "%q is not a purse number (a letter and 12 digits).", number)
	}
	cur, err := c.lookup(ctx, func() *coffer.Currency { return c.byLetter[number[0]] })
	if err == nil && cur == nil {
		err = coffer.Errorf(coffer.EPURSENOTFOUND, "Purse %s does not exist.", number)
	}
	return cur, err
}

// Decimals returns the decimals of a currency code, for formatting; 2 for
// a currency it cannot find.
func (c *Currencies) Decimals(ctx context.Context, code string) int {
	cur, err := c.ByCode(ctx, code)
	if err != nil {
		return 2
	}
	return cur.Decimals
}
