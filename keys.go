package coffer

// KeyStore persists members' request-signing keys. (Filled in by the key
// file work.)
type KeyStore interface{}
