package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/coffer-money/coffer/client"
)

var memberIDRE = regexp.MustCompile(`^[0-9]{12}$`)

func checkMemberID(cmd, id string) error {
	if !memberIDRE.MatchString(id) {
		name, _, _ := strings.Cut(cmd, " ")
		return &usageError{msg: fmt.Sprintf("%s: %q is not a member ID (12 digits)", cmd, id), cmd: name}
	}
	return nil
}

// fieldValues reads FIELD=VALUE arguments.
func fieldValues(cmd string, args []string, check func(field, value string) error) (map[string]string, error) {
	name, _, _ := strings.Cut(cmd, " ")
	if len(args) == 0 {
		return nil, &usageError{msg: cmd + ": name at least one FIELD=VALUE", cmd: name}
	}
	out := map[string]string{}
	for _, a := range args {
		f, v, ok := strings.Cut(a, "=")
		f = strings.TrimSpace(f)
		if !ok || f == "" {
			return nil, &usageError{msg: fmt.Sprintf("%s: %q is not FIELD=VALUE", cmd, a), cmd: name}
		}
		if !client.KnownField(f) {
			return nil, &usageError{msg: fmt.Sprintf("%s: unknown field %q (fields: %s)", cmd, f, strings.Join(client.ProfileFields, ", ")), cmd: name}
		}
		if _, dup := out[f]; dup {
			return nil, &usageError{msg: fmt.Sprintf("%s: %s is given twice", cmd, f), cmd: name}
		}
		v = strings.TrimSpace(v)
		if check != nil {
			if err := check(f, v); err != nil {
				return nil, &usageError{msg: cmd + ": " + err.Error(), cmd: name}
			}
		}
		out[f] = v
	}
	return out, nil
}

// fieldList reads --fields a,b.
func fieldList(cmd, s string) ([]string, error) {
	name, _, _ := strings.Cut(cmd, " ")
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !client.KnownField(f) {
			return nil, &usageError{msg: fmt.Sprintf("%s: unknown field %q in --fields", cmd, f), cmd: name}
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

func onlyArgs(cmd string, pos []string, n int, what string) error {
	name, _, _ := strings.Cut(cmd, " ")
	switch {
	case len(pos) < n:
		return &usageError{msg: cmd + ": name the " + what, cmd: name}
	case len(pos) > n:
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", cmd, pos[n]), cmd: name}
	}
	return nil
}
