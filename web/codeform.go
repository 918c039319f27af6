package web

import (
	"errors"
	"fmt"
)

// hiddenField is a form field the member does not see, sent along again.
type hiddenField struct{ Name, Value string }

// codeForm is what the "codeform" partial (templates/_codeform.html) shows:
// the form a member types a one-time code into, with the challenge for a
// code generator above it and the form that asks for a new SMS code below
// it. Pages build it with the codeForm template function, so that their
// words stay in their templates.
type codeForm struct {
	CSRF   string
	Action string        // where the code is posted
	ID     string        // the form's id; "" for none
	Hidden []hiddenField // posted along with the code
	Label  string        // the code field's label
	Input  string        // the code field's id: "code" unless given
	Button string        // the submit button's words
	// Inline is a form among others on its page: a row, neither focused
	// nor the page's primary button.
	Inline bool
	// Verbatim keeps the browser from capitalising or spell-checking the code.
	Verbatim bool
	// Challenge is for a code generator that answers challenges; Keeper
	// adds the keeper's command that answers it.
	Challenge string
	Keeper    bool
	// SMS adds a form asking for a new SMS code, which posts ResendHidden
	// to Resend; ResendProtectCode has it ask for the payment's protection
	// code again, which is never kept between pages.
	SMS               bool
	Resend            string
	ResendHidden      []hiddenField
	ResendProtectCode bool
}

// newCodeForm is the codeForm template function: it builds a codeForm from
// name-value pairs such as "Action" "/send/confirm", and fails on a name it
// does not know or a value of the wrong type, so that a typing error in a
// template shows as an error rather than as a form that posts nowhere.
func newCodeForm(pairs ...any) (codeForm, error) {
	if len(pairs)%2 != 0 {
		return codeForm{}, errors.New("codeForm: an odd number of arguments")
	}
	f := codeForm{Input: "code"}
	for i := 0; i < len(pairs); i += 2 {
		name, _ := pairs[i].(string)
		v := pairs[i+1]
		var ok bool
		switch name {
		case "CSRF":
			f.CSRF, ok = v.(string)
		case "Action":
			f.Action, ok = v.(string)
		case "ID":
			f.ID, ok = v.(string)
		case "Hidden":
			f.Hidden, ok = v.([]hiddenField)
		case "Label":
			f.Label, ok = v.(string)
		case "Input":
			f.Input, ok = v.(string)
		case "Button":
			f.Button, ok = v.(string)
		case "Inline":
			f.Inline, ok = v.(bool)
		case "Verbatim":
			f.Verbatim, ok = v.(bool)
		case "Challenge":
			f.Challenge, ok = v.(string)
		case "Keeper":
			f.Keeper, ok = v.(bool)
		case "SMS":
			f.SMS, ok = v.(bool)
		case "Resend":
			f.Resend, ok = v.(string)
		case "ResendHidden":
			f.ResendHidden, ok = v.([]hiddenField)
		case "ResendProtectCode":
			f.ResendProtectCode, ok = v.(bool)
		default:
			return codeForm{}, fmt.Errorf("codeForm: unknown parameter %v", pairs[i])
		}
		if !ok {
			return codeForm{}, fmt.Errorf("codeForm: %s is a %T", name, v)
		}
	}
	if f.Action == "" || f.Label == "" || f.Input == "" || f.Button == "" {
		return codeForm{}, errors.New("codeForm: Action, Label, Input and Button are needed")
	}
	if f.SMS && f.Resend == "" {
		return codeForm{}, errors.New("codeForm: SMS needs Resend")
	}
	return f, nil
}

// hiddenFields is the hidden template function: hidden fields from
// name-value pairs.
func hiddenFields(pairs ...string) ([]hiddenField, error) {
	if len(pairs)%2 != 0 {
		return nil, errors.New("hidden: an odd number of arguments")
	}
	fields := make([]hiddenField, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		fields = append(fields, hiddenField{pairs[i], pairs[i+1]})
	}
	return fields, nil
}
