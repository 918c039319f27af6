package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/coffer-money/coffer/httpapi"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// TestOpenAPI_Valid checks the document against the OpenAPI 3.1 schema and
// builds its model with every reference resolved.
func TestOpenAPI_Valid(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatalf("libopenapi.NewDocument: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("got OpenAPI version %q, want 3.1.0", v)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Errorf("BuildV3Model: %v", err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok || len(errs) > 0 {
		for _, e := range errs {
			t.Errorf("invalid: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s", se.Reason, se.FieldPath)
			}
		}
	}
}

// TestOpenAPI_Routes checks that the document describes exactly the routes
// the server registers under /v1, and asks for authentication exactly where
// the server does.
func TestOpenAPI_Routes(t *testing.T) {
	newEnv(t) // builds a Server, which registers its routes
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{} // "METHOD path" -> needs a member
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method, o := range item {
			described[strings.ToUpper(method)+" "+path] = o.Security == nil || len(*o.Security) > 0
		}
	}
	registered := map[string]bool{}
	for _, r := range httpapi.Routes() {
		if strings.HasPrefix(r.Path, "/v1/") {
			registered[r.Method+" "+r.Path] = r.Auth
		}
	}
	if len(registered) == 0 {
		t.Fatal("httpapi.Routes lists no /v1 route")
	}
	for route, auth := range registered {
		dauth, ok := described[route]
		switch {
		case !ok:
			t.Errorf("%s is registered but not described in openapi.json", route)
		case dauth != auth:
			t.Errorf("%s: described as needing authentication %v, registered with %v", route, dauth, auth)
		}
	}
	for route := range described {
		if _, ok := registered[route]; !ok {
			t.Errorf("%s is described in openapi.json but not registered", route)
		}
	}
}

// TestOpenAPI_Served fetches the document from a running server and checks
// that real answers match the schemas it gives them.
func TestOpenAPI_Served(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: got %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(served) != string(file) {
		t.Fatalf("GET /openapi.json: got %d bytes that differ from openapi.json", len(served))
	}

	doc, err := libopenapi.NewDocument(served)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("NewValidator: %v", errs)
	}
	// Each exchange is made for real and both sides checked against the
	// document.
	check := func(method, path, token string, body any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = strings.NewReader(string(j))
		}
		req, _ := http.NewRequest(method, f.srv.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		// The validator reads both bodies again.
		if body != nil {
			j, _ := json.Marshal(body)
			req.Body = io.NopCloser(strings.NewReader(string(j)))
		}
		resp.Body = io.NopCloser(strings.NewReader(string(data)))
		if ok, verrs := v.ValidateHttpRequestResponse(req, resp); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s (%d): %s: %s", method, path, resp.StatusCode, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("  %s at %s", se.Reason, se.FieldPath)
				}
			}
		}
	}
	check("POST", "/v1/members", "", map[string]string{"password": testPassword})
	check("POST", "/v1/sessions", "", map[string]string{"login": f.a.id, "password": testPassword})
	check("GET", "/v1/sessions", f.a.token, nil)
	check("GET", "/v1/purses", f.a.token, nil)
	check("GET", "/v1/purses/"+f.aUSD, f.a.token, nil)
	check("GET", "/v1/purses/"+f.aUSD+"/history?limit=2", f.a.token, nil)
	check("GET", "/v1/purses/"+f.bUSD+"/owner", f.a.token, nil)
	check("POST", "/v1/transfers", f.a.token, map[string]string{"transfer_id": "oa-1", "from": f.aUSD, "to": f.bUSD, "amount": "1.25", "description": "openapi"})
	check("POST", "/v1/transfers", f.a.token, map[string]string{"transfer_id": "oa-1", "from": f.aUSD, "to": f.bUSD, "amount": "1.25", "description": "openapi"})
	check("GET", "/v1/transfers/oa-1", f.a.token, nil)
	check("POST", "/v1/transfers", f.a.token, map[string]string{"transfer_id": "oa-2", "from": f.aUSD, "to": f.bUSD, "amount": "1000000.00"})
	check("POST", "/v1/invoices", f.b.token, map[string]string{"payer": f.a.id, "purse": f.bUSD, "amount": "2.00", "order_number": "oa-order"})
	var list struct {
		Invoices []struct {
			ID string `json:"invoice_id"`
		} `json:"invoices"`
	}
	f.request(t, "GET", "/v1/invoices?role=payer", f.a.token, nil).decode(t, &list)
	if len(list.Invoices) != 1 {
		t.Fatalf("got %d invoices, want 1", len(list.Invoices))
	}
	check("GET", "/v1/invoices/"+list.Invoices[0].ID, f.a.token, nil)
	check("POST", "/v1/invoices/"+list.Invoices[0].ID+"/pay", f.a.token, map[string]string{"transfer_id": "oa-inv", "from": f.aUSD})
	check("GET", "/v1/invoices?role=payer", f.a.token, nil)
	check("GET", "/v1/currencies", f.a.token, nil)
	check("GET", "/v1/fees", f.a.token, nil)
	check("GET", "/v1/security/factors", f.a.token, nil)
	check("GET", "/v1/security/settings", f.a.token, nil)
	check("GET", "/v1/purses/"+f.aUSD+"/limits", f.a.token, nil)
	check("GET", "/v1/purses/"+f.aUSD+"/statement", f.a.token, nil)
	check("GET", "/v1/keys", f.a.token, nil)
	check("GET", "/v1/members/"+f.b.id, f.a.token, nil)
	check("GET", "/v1/verification", f.a.token, nil)
	check("GET", "/v1/purses", "", nil)
	check("POST", "/v1/refunds", f.b.token, map[string]any{"transfer_id": "oa-r", "of": map[string]string{"transfer_id": "oa-1", "from": f.aUSD}, "amount": "0.25"})
	check("POST", "/v1/transfers/quote", f.a.token, map[string]string{"from": f.aUSD, "to": f.bUSD, "amount": "3.00"})
	check("POST", "/v1/transfers/batch", f.a.token, map[string]any{"transfers": []map[string]string{
		{"transfer_id": "oa-b1", "from": f.aUSD, "to": f.bUSD, "amount": "0.10"},
		{"transfer_id": "oa-b2", "from": f.aUSD, "to": f.bEUR, "amount": "0.10"}}})
	check("POST", "/v1/transfers", f.a.token, map[string]any{"transfer_id": "oa-p", "from": f.aUSD, "to": f.bUSD, "amount": "1.00", "protect": map[string]any{"code": "secret-code", "days": 3}})
	check("GET", "/v1/transfers/held", f.b.token, nil)
	check("POST", "/v1/transfers/oa-p/release", f.b.token, map[string]string{"from": f.aUSD, "code": "secret-code"})
	check("POST", "/v1/trusts", f.a.token, map[string]string{"merchant": f.b.id, "purse": f.aUSD, "per_day": "5.00"})
	check("GET", "/v1/trusts", f.b.token, nil)
	check("GET", "/v1/security/ip-ranges", f.a.token, nil)
	check("PUT", "/v1/security/notifications", f.a.token, map[string]bool{"login": true})
	check("PUT", "/v1/purses/"+f.aUSD+"/limits", f.a.token, map[string]any{"per_day": "50.00", "per_month": nil})
	check("GET", "/v1/security/confirmation", f.a.token, nil)
	check("GET", "/v1/security/events?limit=3", f.a.token, nil)
	check("GET", "/v1/profile", f.a.token, nil)
	check("PUT", "/v1/profile", f.a.token, map[string]any{"values": map[string]string{"first_name": "Ada"}})
	check("GET", "/v1/profile/visibility", f.a.token, nil)
	check("POST", "/v1/contacts", f.a.token, map[string]string{"member_id": f.b.id, "note": "landlord"})
	check("GET", "/v1/contacts", f.a.token, nil)
	check("POST", "/v1/members/"+f.b.id+"/disclosure-requests", f.a.token, map[string]any{"fields": []string{"first_name"}, "reason": "rent contract"})
	check("GET", "/v1/disclosure-requests?role=requester", f.a.token, nil)
	check("GET", "/v1/certificates", f.a.token, nil)
}
