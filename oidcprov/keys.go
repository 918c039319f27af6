package oidcprov

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-money/coffer"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// signingKey is an unsealed signing key.
type signingKey struct {
	id      string
	priv    *ecdsa.PrivateKey
	created time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a key as the JWKS publishes it.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }

// newAEAD derives the key that seals signing keys from the server's secrets
// key, so that a signing key is no use to whoever copies the database
// without DATA/secrets.key.
func newAEAD(secrets []byte) (cipher.AEAD, error) {
	if len(secrets) != 32 {
		return nil, errors.New("oidcprov: the secrets key must be 32 bytes")
	}
	sum := sha256.Sum256(append([]byte("coffer oidc signing keys\x00"), secrets...))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (p *Provider) seal(id string, der []byte) []byte {
	nonce := make([]byte, p.aead.NonceSize())
	rand.Read(nonce)
	return p.aead.Seal(nonce, nonce, der, []byte("coffer oidc key "+id))
}

func (p *Provider) unseal(k *coffer.OIDCSigningKey) (*signingKey, error) {
	n := p.aead.NonceSize()
	if len(k.Sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	der, err := p.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte("coffer oidc key "+k.ID))
	if err != nil {
		return nil, fmt.Errorf("oidcprov: unseal signing key %s (is DATA/secrets.key the one it was made with?): %w", k.ID, err)
	}
	priv, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oidcprov: signing key %s: %w", k.ID, err)
	}
	return &signingKey{id: k.ID, priv: priv, created: k.CreatedAt}, nil
}

// RotateKey makes a new signing key, which signs from now on. The previous
// keys stay published until the tokens they signed have expired.
func (p *Provider) RotateKey(ctx context.Context) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return "", err
	}
	raw := make([]byte, 8)
	rand.Read(raw)
	id := hex.EncodeToString(raw)
	k := &coffer.OIDCSigningKey{ID: id, Algorithm: string(jose.ES256), Sealed: p.seal(id, der), CreatedAt: p.now()}
	if err := p.store.AddOIDCSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("oidcprov: rotate key: %w", err)
	}
	p.keyMu.Lock()
	p.keysAt = time.Time{}
	p.keyMu.Unlock()
	return id, nil
}

// keys returns the published keys, newest (the signing one) first. It
// makes a key when there is none or the newest is older than KeyMaxAge,
// and drops keys retired longer ago than tokens live.
func (p *Provider) keys(ctx context.Context) ([]*signingKey, error) {
	now := p.now()
	p.keyMu.Lock()
	if !p.keysAt.IsZero() && now.Sub(p.keysAt) < time.Minute && len(p.keyCache) > 0 && now.Sub(p.keyCache[0].created) < p.cfg.KeyMaxAge {
		ks := p.keyCache
		p.keyMu.Unlock()
		return ks, nil
	}
	p.keyMu.Unlock()
	stored, err := p.store.OIDCSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 || now.Sub(stored[0].CreatedAt) >= p.cfg.KeyMaxAge {
		if _, err := p.RotateKey(ctx); err != nil {
			return nil, err
		}
		if stored, err = p.store.OIDCSigningKeys(ctx); err != nil {
			return nil, err
		}
	}
	var out []*signingKey
	for i, sk := range stored {
		// A key retired (replaced by the next newer one) longer ago than
		// an ID token lives signed nothing that is still valid.
		if i > 0 && now.Sub(stored[i-1].CreatedAt) > p.cfg.IDTokenLifetime+5*time.Minute {
			if err := p.store.DeleteOIDCSigningKey(ctx, sk.ID); err != nil {
				p.log.Warn("oidc: delete retired key", "key", sk.ID, "err", err)
			}
			continue
		}
		k, err := p.unseal(sk)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	p.keyMu.Lock()
	p.keyCache, p.keysAt = out, now
	p.keyMu.Unlock()
	return out, nil
}

// SigningKey implements op.Storage.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	ks, err := s.p.keys(ctx)
	if err != nil {
		return nil, err
	}
	return ks[0], nil
}

// SignatureAlgorithms implements op.Storage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

// KeySet implements op.Storage.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	ks, err := s.p.keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(ks))
	for _, k := range ks {
		out = append(out, publicKey{k})
	}
	return out, nil
}
