package coffer_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
)

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[string]int{
		coffer.EINVALID: 400, coffer.EUNAUTHORIZED: 401, coffer.ECONFIRMATIONREQUIRED: 403,
		coffer.EPURSENOTFOUND: 404, "method_not_allowed": 405, coffer.ENOTHELD: 409,
		coffer.ECONFIRMATIONVOID: 410, coffer.EUPLOADQUOTA: 413, "unsupported_media_type": 415,
		coffer.EINSUFFICIENTFUNDS: 422, coffer.ERATELIMITED: 429, coffer.EINTERNAL: 500, coffer.EUNAVAILABLE: 503,
	} {
		if got, ok := coffer.HTTPStatus(code); !ok || got != want {
			t.Errorf("HTTPStatus(%q): got %d, %v, want %d, true", code, got, ok, want)
		}
	}
	if got, ok := coffer.HTTPStatus("no_such_code"); ok {
		t.Errorf("HTTPStatus(no_such_code): got %d, true, want false", got)
	}
}

// TestHTTPStatus_Design keeps the table of DESIGN.md §4 the table the
// server answers by: each code it lists has its row's status.
func TestHTTPStatus_Design(t *testing.T) {
	doc, err := os.ReadFile("DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| ([1-5][0-9][0-9]) \\| (.*) \\|$")
	code := regexp.MustCompile("`([a-z_]+)(?:\\{([a-z,]+)\\})?`")
	n := 0
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		want, _ := strconv.Atoi(m[1])
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			names := []string{c[1]}
			if c[2] != "" {
				names = nil
				for _, suffix := range strings.Split(c[2], ",") {
					names = append(names, c[1]+suffix)
				}
			}
			for _, name := range names {
				if name == "WWW-Authenticate" || name == "Allow" || name == "Retry-After" {
					continue
				}
				n++
				if got, ok := coffer.HTTPStatus(name); !ok || got != want {
					t.Errorf("DESIGN.md lists %s under %d; HTTPStatus gives %d, %v", name, want, got, ok)
				}
			}
		}
	}
	if n < 40 {
		t.Errorf("got %d codes from DESIGN.md's status table, want the whole table", n)
	}
}
