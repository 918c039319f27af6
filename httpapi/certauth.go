package httpapi

import "net/http"

// certAuth authenticates a TLS client certificate. Not built yet: it never
// claims a request.
func (s *Server) certAuth(_ http.ResponseWriter, _ *http.Request) (*Principal, error) {
	return nil, nil
}

// certRoutes registers the certificate endpoints.
func (s *Server) certRoutes(handle routeAdder) {}
