package httpapi

import "net/http"

// signatureAuth authenticates an HTTP Message Signature (RFC 9421). Not
// built yet: it never claims a request.
func (s *Server) signatureAuth(_ http.ResponseWriter, _ *http.Request) (*Principal, error) {
	return nil, nil
}

// keyRoutes registers the signing-key endpoints.
func (s *Server) keyRoutes(handle routeAdder) {}
