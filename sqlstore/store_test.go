package sqlstore

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/coffer-money/coffer"
)

func TestRebindNumbered(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`a = ? AND b = ?`, `a = $1 AND b = $2`},
		{`a = ?1 OR b = ?1 AND c = ?2`, `a = $1 OR b = $1 AND c = $2`},
		{`a = '?' AND b = ?`, `a = '?' AND b = $1`},
		{`"we?ird" = ? AND x = 'it''s ?'`, `"we?ird" = $1 AND x = 'it''s ?'`},
		{`VALUES (?,?,?),(?,?,?)`, `VALUES ($1,$2,$3),($4,$5,$6)`},
		{`x = ?10`, `x = $10`},
	} {
		if got := RebindNumbered(c.in); got != c.want {
			t.Errorf("RebindNumbered(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzRebindNumbered(f *testing.F) {
	f.Add(`a = ? AND b = ?2 AND c = '?'`)
	f.Add(`"?" ?`)
	f.Add(`'unterminated ?`)
	f.Fuzz(func(t *testing.T, q string) {
		out := RebindNumbered(q)
		// Outside quotes no ? is left; inside them nothing changes, so the
		// text with every placeholder removed is the same.
		strip := func(s string, mark byte) string {
			var b strings.Builder
			var quote byte
			for i := 0; i < len(s); i++ {
				c := s[i]
				switch {
				case quote != 0:
					if c == quote {
						quote = 0
					}
				case c == '\'' || c == '"':
					quote = c
				case c == mark:
					if quote == 0 {
						for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
							i++
						}
						continue
					}
				}
				b.WriteByte(c)
			}
			return b.String()
		}
		if strip(q, '?') != strip(out, '$') && !strings.Contains(q, "$") {
			t.Fatalf("RebindNumbered(%q) = %q changes more than its placeholders", q, out)
		}
	})
}

// fakeDialect classifies errors by their text, to test MapErr alone.
type fakeDialect struct{ Dialect }

func (fakeDialect) Name() string { return "fake" }
func (fakeDialect) Classify(err error) Fault {
	switch err.Error() {
	case "unique":
		return FaultUnique
	case "fk":
		return FaultForeignKey
	case "retry":
		return FaultRetry
	case "busy":
		return FaultBusy
	case "gone":
		return FaultConnLost
	}
	return FaultOther
}

func TestMapErr(t *testing.T) {
	d := fakeDialect{}
	if MapErr(d, "Op", nil) != nil {
		t.Fatal("MapErr(nil) is not nil")
	}
	for _, c := range []struct {
		err  error
		code string
	}{
		{sql.ErrNoRows, coffer.ENOTFOUND},
		{errors.New("unique"), coffer.ECONFLICT},
		{errors.New("fk"), coffer.ENOTFOUND},
		{errors.New("retry"), coffer.EUNAVAILABLE},
		{errors.New("busy"), coffer.EUNAVAILABLE},
		{errors.New("gone"), coffer.EUNAVAILABLE},
	} {
		got := MapErr(d, "Op", c.err)
		var ce *coffer.Error
		if !errors.As(got, &ce) || ce.Code != c.code {
			t.Errorf("MapErr(%v) = %v, want code %s", c.err, got, c.code)
		}
		if ce != nil && ce.Op != "fake.Op" {
			t.Errorf("MapErr(%v).Op = %q, want fake.Op", c.err, ce.Op)
		}
	}
	// An error the store does not know stays an internal error, with its
	// cause and the operation.
	cause := errors.New("disk on fire")
	got := MapErr(d, "Op", cause)
	var ce *coffer.Error
	if errors.As(got, &ce) || !errors.Is(got, cause) || !strings.Contains(got.Error(), "fake.Op") {
		t.Errorf("MapErr(unknown) = %v, want an internal error wrapping the cause", got)
	}
	// Application errors pass unchanged.
	app := coffer.Errorf(coffer.EINVALID, "No.")
	if got := MapErr(d, "Op", app); got != app {
		t.Errorf("MapErr(app error) = %v, want it unchanged", got)
	}
}
