package coffer

import "net/http"

// httpStatus is the one table from error code to HTTP status. The API and
// the web pages both answer by it; method_not_allowed and
// unsupported_media_type are codes the HTTP layer and uploads use without a
// constant of their own.
var httpStatus = map[string]int{
	EINVALID:                 http.StatusBadRequest,
	EINVALIDAMOUNT:           http.StatusBadRequest,
	EWEAKPASSWORD:            http.StatusBadRequest,
	ESAMEPURSE:               http.StatusBadRequest,
	ECURRENCYNOTFOUND:        http.StatusBadRequest,
	EUNAUTHORIZED:            http.StatusUnauthorized,
	EFORBIDDEN:               http.StatusForbidden,
	ENOTFOUND:                http.StatusNotFound,
	EPURSENOTFOUND:           http.StatusNotFound,
	ECONFLICT:                http.StatusConflict,
	EIDEMPOTENCYCONFLICT:     http.StatusConflict,
	ETOOLARGE:                http.StatusRequestEntityTooLarge,
	EINSUFFICIENTFUNDS:       http.StatusUnprocessableEntity,
	ECURRENCYMISMATCH:        http.StatusUnprocessableEntity,
	ELIMITEXCEEDED:           http.StatusUnprocessableEntity,
	EIPNOTALLOWED:            http.StatusForbidden,
	ECONFIRMATIONREQUIRED:    http.StatusForbidden,
	ECONFIRMATIONFAILED:      http.StatusUnauthorized,
	ECONFIRMATIONVOID:        http.StatusGone,
	ERATELIMITED:             http.StatusTooManyRequests,
	EUNAVAILABLE:             http.StatusServiceUnavailable,
	EINTERNAL:                http.StatusInternalServerError,
	ENOTACONTACT:             http.StatusForbidden,
	ECLOSED:                  http.StatusForbidden,
	EINVOICENOTPAYABLE:       http.StatusConflict,
	EREFUNDNOTALLOWED:        http.StatusUnprocessableEntity,
	ENOTHELD:                 http.StatusConflict,
	EWRONGCODE:               http.StatusUnprocessableEntity,
	ETRUSTINVALID:            http.StatusForbidden,
	ELEVELTOOLOW:             http.StatusForbidden,
	ECERTREVOKED:             http.StatusUnauthorized,
	ECERTEXPIRED:             http.StatusUnauthorized,
	ECERTUNKNOWN:             http.StatusUnauthorized,
	ECERTINVALID:             http.StatusUnauthorized,
	EINVALIDCSR:              http.StatusBadRequest,
	EKEYREJECTED:             http.StatusBadRequest,
	ECERTDISABLED:            http.StatusForbidden,
	ESIGMALFORMED:            http.StatusUnauthorized,
	ESIGINVALID:              http.StatusUnauthorized,
	ESIGEXPIRED:              http.StatusUnauthorized,
	ESIGFUTURE:               http.StatusUnauthorized,
	ESIGREPLAYED:             http.StatusUnauthorized,
	EDIGESTMISMATCH:          http.StatusUnauthorized,
	EKEYUNKNOWN:              http.StatusUnauthorized,
	EKEYREVOKED:              http.StatusUnauthorized,
	"method_not_allowed":     http.StatusMethodNotAllowed,
	"unsupported_media_type": http.StatusUnsupportedMediaType,
	EUPLOADQUOTA:             http.StatusRequestEntityTooLarge,
}

// HTTPStatus is the HTTP status for an error code and whether the table
// knows the code. The API answers codes it does not know with 400 Bad
// Request; the web pages answer them with 500.
func HTTPStatus(code string) (status int, ok bool) {
	status, ok = httpStatus[code]
	return status, ok
}

// UnavailableRetryAfter is the wait, in seconds, that a 503 answer asks for
// when the error names none: the database was busy, unreachable or out of
// disk space, and the same request may succeed once that has passed.
const UnavailableRetryAfter = 2
