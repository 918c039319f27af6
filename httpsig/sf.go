package httpsig

// A strict parser and serializer for the parts of Structured Field Values
// for HTTP (RFC 8941) that signatures use: dictionaries, inner lists, items
// and parameters. The algorithms follow RFC 8941 sections 4.1 and 4.2 step
// by step; any deviation from the grammar is an error, never a guess.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Token is a structured-field token (an unquoted identifier such as
// sha-256 or a bare word).
type Token string

// Decimal is a structured-field decimal, held as thousandths (RFC 8941
// decimals have at most three fractional digits).
type Decimal int64

// A bare item is one of: int64, Decimal, string, Token, []byte, bool.

// Param is one parameter: a key and a bare item (true when only the key
// was given).
type Param struct {
	Key   string
	Value any
}

// Params are ordered parameters with unique keys.
type Params []Param

// Get returns the value of the parameter key, or nil.
func (ps Params) Get(key string) any {
	for _, p := range ps {
		if p.Key == key {
			return p.Value
		}
	}
	return nil
}

// set adds or overwrites a parameter, keeping the first position as RFC 8941
// ordered maps do.
func (ps Params) set(key string, v any) Params {
	for i := range ps {
		if ps[i].Key == key {
			ps[i].Value = v
			return ps
		}
	}
	return append(ps, Param{key, v})
}

// Item is a bare item with parameters.
type Item struct {
	Value  any
	Params Params
}

// InnerList is a parenthesized list of items with parameters.
type InnerList struct {
	Items  []Item
	Params Params
}

// Member is one dictionary member; Value is an Item or an InnerList.
type Member struct {
	Key   string
	Value any
}

// Dictionary is an ordered dictionary with unique keys.
type Dictionary []Member

// Get returns the value of member key (an Item or an InnerList), or nil.
func (d Dictionary) Get(key string) any {
	for _, m := range d {
		if m.Key == key {
			return m.Value
		}
	}
	return nil
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("structured field syntax")

type parser struct {
	s string
	i int
}

func (p *parser) fail(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.i, fmt.Sprintf(format, args...))
}

func (p *parser) eof() bool  { return p.i >= len(p.s) }
func (p *parser) peek() byte { return p.s[p.i] }
func (p *parser) skipSP()    { p.skip(false) }
func (p *parser) skipOWS()   { p.skip(true) }
func (p *parser) skip(tab bool) {
	for !p.eof() && (p.s[p.i] == ' ' || tab && p.s[p.i] == '\t') {
		p.i++
	}
}

// ParseDictionary parses a field value as a dictionary (RFC 8941 §4.2,
// §4.2.2). Several field lines must be joined with ", " first.
func ParseDictionary(s string) (Dictionary, error) {
	p := &parser{s: s}
	p.skipSP()
	var d Dictionary
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var v any
		if !p.eof() && p.peek() == '=' {
			p.i++
			if v, err = p.itemOrInnerList(); err != nil {
				return nil, err
			}
		} else {
			params, err := p.params()
			if err != nil {
				return nil, err
			}
			v = Item{Value: true, Params: params}
		}
		d = d.set(key, v)
		p.skipOWS()
		if p.eof() {
			break
		}
		if p.peek() != ',' {
			return nil, p.fail("want ',' between dictionary members")
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return nil, p.fail("trailing ','")
		}
	}
	p.skipSP()
	if !p.eof() {
		return nil, p.fail("unexpected trailing characters")
	}
	return d, nil
}

func (d Dictionary) set(key string, v any) Dictionary {
	for i := range d {
		if d[i].Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, Member{key, v})
}

func (p *parser) itemOrInnerList() (any, error) {
	if !p.eof() && p.peek() == '(' {
		return p.innerList()
	}
	return p.item()
}

func (p *parser) innerList() (InnerList, error) {
	p.i++ // '('
	var l InnerList
	for !p.eof() {
		p.skipSP()
		if p.eof() {
			break
		}
		if p.peek() == ')' {
			p.i++
			params, err := p.params()
			if err != nil {
				return InnerList{}, err
			}
			l.Params = params
			return l, nil
		}
		it, err := p.item()
		if err != nil {
			return InnerList{}, err
		}
		l.Items = append(l.Items, it)
		if p.eof() {
			break
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return InnerList{}, p.fail("want ' ' or ')' in an inner list")
		}
	}
	return InnerList{}, p.fail("unterminated inner list")
}

func (p *parser) item() (Item, error) {
	v, err := p.bareItem()
	if err != nil {
		return Item{}, err
	}
	params, err := p.params()
	if err != nil {
		return Item{}, err
	}
	return Item{Value: v, Params: params}, nil
}

func (p *parser) params() (Params, error) {
	var ps Params
	for !p.eof() && p.peek() == ';' {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var v any = true
		if !p.eof() && p.peek() == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		ps = ps.set(key, v)
	}
	return ps, nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

func isKeyChar(c byte) bool {
	return isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*'
}

// isTChar reports whether c is an RFC 9110 tchar.
func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *parser) key() (string, error) {
	if p.eof() || !(isLCAlpha(p.peek()) || p.peek() == '*') {
		return "", p.fail("a key must start with a lower-case letter or '*'")
	}
	start := p.i
	for !p.eof() && isKeyChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *parser) bareItem() (any, error) {
	if p.eof() {
		return nil, p.fail("missing item")
	}
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case isAlpha(c) || c == '*':
		return p.token(), nil
	case c == ':':
		return p.bytes()
	case c == '?':
		return p.boolean()
	}
	return nil, p.fail("unexpected character %q", p.peek())
}

func (p *parser) number() (any, error) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	if p.eof() || !isDigit(p.peek()) {
		return nil, p.fail("want a digit")
	}
	start := p.i
	dot := -1
	for !p.eof() {
		c := p.peek()
		if isDigit(c) {
			p.i++
		} else if c == '.' && dot < 0 {
			if p.i-start > 12 {
				return nil, p.fail("decimal with more than 12 integer digits")
			}
			dot = p.i
			p.i++
		} else {
			break
		}
		if dot < 0 && p.i-start > 15 {
			return nil, p.fail("integer with more than 15 digits")
		}
		if dot >= 0 && p.i-start > 16 {
			return nil, p.fail("decimal too long")
		}
	}
	num := p.s[start:p.i]
	if dot < 0 {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, p.fail("bad integer")
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	ip, fp := num[:dot-start], num[dot-start+1:]
	if len(fp) == 0 || len(fp) > 3 {
		return nil, p.fail("a decimal needs 1 to 3 fractional digits")
	}
	i, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return nil, p.fail("bad decimal")
	}
	f, _ := strconv.ParseInt((fp + "00")[:3], 10, 64)
	v := i*1000 + f
	if neg {
		v = -v
	}
	return Decimal(v), nil
}

func (p *parser) str() (string, error) {
	p.i++ // '"'
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() {
				return "", p.fail("unterminated escape")
			}
			n := p.s[p.i]
			p.i++
			if n != '"' && n != '\\' {
				return "", p.fail("bad escape")
			}
			b.WriteByte(n)
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", p.fail("character %#x not allowed in a string", c)
		default:
			b.WriteByte(c)
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) token() Token {
	start := p.i
	p.i++
	for !p.eof() && (isTChar(p.peek()) || p.peek() == ':' || p.peek() == '/') {
		p.i++
	}
	return Token(p.s[start:p.i])
}

func isB64(c byte) bool { return isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '=' }

func (p *parser) bytes() ([]byte, error) {
	p.i++ // ':'
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return nil, p.fail("unterminated byte sequence")
	}
	b64 := p.s[p.i : p.i+end]
	for i := 0; i < len(b64); i++ {
		if !isB64(b64[i]) {
			return nil, p.fail("character %q not allowed in a byte sequence", b64[i])
		}
	}
	p.i += end + 1
	// Padding may be left out (RFC 8941 §4.2.7 asks parsers to accept
	// that); it is synthesized here.
	if eq := strings.IndexByte(b64, '='); eq < 0 {
		b64 += strings.Repeat("=", (4-len(b64)%4)%4)
	}
	out, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, p.fail("bad base64 in a byte sequence")
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

func (p *parser) boolean() (bool, error) {
	p.i++ // '?'
	if !p.eof() {
		switch p.peek() {
		case '1':
			p.i++
			return true, nil
		case '0':
			p.i++
			return false, nil
		}
	}
	return false, p.fail("a boolean is ?0 or ?1")
}

// Serialization (RFC 8941 §4.1).

// ErrSerialize is wrapped by errors of values that cannot be serialized.
var ErrSerialize = errors.New("structured field value cannot be serialized")

// String serializes the dictionary.
func (d Dictionary) String() (string, error) {
	var b strings.Builder
	for i, m := range d {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := writeKey(&b, m.Key); err != nil {
			return "", err
		}
		if it, ok := m.Value.(Item); ok && it.Value == true {
			if err := writeParams(&b, it.Params); err != nil {
				return "", err
			}
			continue
		}
		b.WriteByte('=')
		if err := writeItemOrInnerList(&b, m.Value); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// String serializes the inner list with its parameters.
func (l InnerList) String() (string, error) {
	var b strings.Builder
	err := writeInnerList(&b, l)
	return b.String(), err
}

func writeItemOrInnerList(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case Item:
		return writeItem(b, v)
	case InnerList:
		return writeInnerList(b, v)
	}
	return fmt.Errorf("%w: %T is not an item or inner list", ErrSerialize, v)
}

func writeInnerList(b *strings.Builder, l InnerList) error {
	b.WriteByte('(')
	for i, it := range l.Items {
		if i > 0 {
			b.WriteByte(' ')
		}
		if err := writeItem(b, it); err != nil {
			return err
		}
	}
	b.WriteByte(')')
	return writeParams(b, l.Params)
}

func writeItem(b *strings.Builder, it Item) error {
	if err := writeBareItem(b, it.Value); err != nil {
		return err
	}
	return writeParams(b, it.Params)
}

func writeParams(b *strings.Builder, ps Params) error {
	for _, p := range ps {
		b.WriteByte(';')
		if err := writeKey(b, p.Key); err != nil {
			return err
		}
		if p.Value == true {
			continue
		}
		b.WriteByte('=')
		if err := writeBareItem(b, p.Value); err != nil {
			return err
		}
	}
	return nil
}

func writeKey(b *strings.Builder, k string) error {
	if k == "" || !(isLCAlpha(k[0]) || k[0] == '*') {
		return fmt.Errorf("%w: bad key %q", ErrSerialize, k)
	}
	for i := 0; i < len(k); i++ {
		if !isKeyChar(k[i]) {
			return fmt.Errorf("%w: bad key %q", ErrSerialize, k)
		}
	}
	b.WriteString(k)
	return nil
}

const maxInteger = 999_999_999_999_999

func writeBareItem(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case int64:
		if v > maxInteger || v < -maxInteger {
			return fmt.Errorf("%w: integer out of range", ErrSerialize)
		}
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		return writeBareItem(b, int64(v))
	case Decimal:
		n := int64(v)
		if n < 0 {
			b.WriteByte('-')
			n = -n
		}
		if n/1000 > 999_999_999_999 {
			return fmt.Errorf("%w: decimal out of range", ErrSerialize)
		}
		b.WriteString(strconv.FormatInt(n/1000, 10))
		b.WriteByte('.')
		frac := strings.TrimRight(fmt.Sprintf("%03d", n%1000), "0")
		if frac == "" {
			frac = "0"
		}
		b.WriteString(frac)
	case string:
		b.WriteByte('"')
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c < 0x20 || c > 0x7e {
				return fmt.Errorf("%w: character %#x not allowed in a string", ErrSerialize, c)
			}
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	case Token:
		if v == "" || !(isAlpha(v[0]) || v[0] == '*') {
			return fmt.Errorf("%w: bad token %q", ErrSerialize, v)
		}
		for i := 1; i < len(v); i++ {
			if c := v[i]; !(isTChar(c) || c == ':' || c == '/') {
				return fmt.Errorf("%w: bad token %q", ErrSerialize, v)
			}
		}
		b.WriteString(string(v))
	case []byte:
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(v))
		b.WriteByte(':')
	case bool:
		if v {
			b.WriteString("?1")
		} else {
			b.WriteString("?0")
		}
	default:
		return fmt.Errorf("%w: %T is not a bare item", ErrSerialize, v)
	}
	return nil
}
