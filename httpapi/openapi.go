package httpapi

import (
	_ "embed"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// openAPIDocument is the OpenAPI 3.1 description of the API. It is written
// from the table in openapi_gen_test.go, and the tests check that it
// describes exactly the routes the server registers.
//
//go:embed openapi.json
var openAPIDocument []byte

// registered is every API route any Server registered, with whether it
// needs a member. All Servers register the same table, so it describes the
// code, not a Server; Routes reads it.
var registered = struct {
	sync.Mutex
	auth map[string]bool
}{auth: map[string]bool{}}

// openAPIRoutes serves the description at GET /openapi.json and returns a
// routeAdder that records each route before registering it with handle.
func (s *Server) openAPIRoutes(mux *http.ServeMux, handle routeAdder) routeAdder {
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Access-Control-Allow-Origin", "*") // for browser-based API tools
		w.Write(openAPIDocument)
	})
	return func(pattern string, auth bool, h handler) {
		registered.Lock()
		registered.auth[pattern] = auth
		registered.Unlock()
		handle(pattern, auth, h)
	}
}

// Route is one API endpoint as the server registers it.
type Route struct {
	Method string // GET, POST, …
	Path   string // a ServeMux path pattern such as /v1/purses/{purse}
	Auth   bool   // whether the endpoint needs an authenticated member
}

// Routes lists the API routes registered by the Servers built so far
// (every Server registers the same ones), sorted by path and method.
func Routes() []Route {
	registered.Lock()
	defer registered.Unlock()
	list := make([]Route, 0, len(registered.auth))
	for p, auth := range registered.auth {
		method, path, _ := strings.Cut(p, " ")
		list = append(list, Route{Method: method, Path: path, Auth: auth})
	}
	slices.SortFunc(list, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return list
}
