package httpapi

// confirmRoutes registers the second-factor and confirmation endpoints.
func (s *Server) confirmRoutes(handle routeAdder) {}
