package httpapi

// settingsRoutes registers the security-settings endpoints (IP ranges,
// limits, notifications).
func (s *Server) settingsRoutes(handle routeAdder) {}
