package coffer

// CertStore persists members' client certificates and the operator's CA.
// (Filled in by the certificate work.)
type CertStore interface{}
