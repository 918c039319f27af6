package web_test

import (
	"go/build"
	"slices"
	"testing"
)

// TestImports keeps the web pages an adapter of their own: they share the
// error-code table (coffer) and the access log (accesslog) with the API,
// never the API's package itself.
func TestImports(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(p.Imports, "github.com/coffer-money/coffer/httpapi") {
		t.Errorf("got package web importing httpapi (imports %v), want it not to", p.Imports)
	}
}
