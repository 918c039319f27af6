// # Sessions
//
// Register creates a member; Login opens a session with a member ID, e-mail
// address or phone and a password. Give its token to SetToken (or
// WithToken) and every later request carries it. When the member asked for
// a second factor, Login answers a challenge instead (Auth.Pending): answer
// it with ConfirmLogin and a code.
//
// # Signed requests and key files
//
// Programs that run unattended should not keep a password. Register an
// Ed25519 public key once with AddKey, from a password session, and create
// the client with WithSigner(keyID, privateKey): each request is then
// signed (HTTP Message Signatures, RFC 9421) and needs no token. The coffer
// keeper CLI keeps that private key in an encrypted key file and signs this
// way. A client certificate, given with WithTLSConfig, is the third way
// in.
//
// # Money and safe retries
//
// Purses, CreatePurse and History read and open purses. Send moves money:
// it picks a transfer ID when none is given and, when the network fails or
// the server is briefly unavailable, sends the very same request again with
// that ID. The server applies a (sender, transfer ID) at most once and
// answers a repeat with the first result, so a lost answer never pays
// twice; a SendError names the ID for a later retry. Invoices
// (CreateInvoice, Invoices, PayInvoice) let a merchant ask a member for
// money; PayInvoice retries the same way.
//
// The examples start a real server in the process and run with go test.
// The server describes its whole API at /openapi.json (OpenAPI 3.1).
package client
