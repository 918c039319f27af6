package httpapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServer_routes keeps the route table in one place: every /v1 pattern
// in the package's code is written in Server.routes, none elsewhere.
func TestServer_routes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	pattern := regexp.MustCompile(`^"(GET|HEAD|POST|PUT|PATCH|DELETE) /v1/`)
	fset := token.NewFileSet()
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(x ast.Node) bool {
				lit, ok := x.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || !pattern.MatchString(lit.Value) {
					return true
				}
				n++
				if fn.Name.Name != "routes" || !strings.HasSuffix(name, "server.go") {
					t.Errorf("got route %s in %s (%s), want it in Server.routes (server.go)", lit.Value, fn.Name.Name, fset.Position(lit.Pos()))
				}
				return true
			})
		}
	}
	if n == 0 {
		t.Error("got no /v1 route in Server.routes, want the whole table")
	}
}
