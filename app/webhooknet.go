package app

import (
	"strconv"
	"strings"

	"github.com/coffer-money/coffer/webhooksend"
)

// Delivery error categories: all that is kept of a failed attempt. The
// member sees them; resolver messages, addresses and Go error text stay
// out, since they can describe the operator's network.
const (
	DeliveryErrDNS        = webhooksend.CategoryDNS      // the name did not resolve
	DeliveryErrRefused    = webhooksend.CategoryRefused  // the name resolved to an address that is not public
	DeliveryErrConnect    = webhooksend.CategoryConnect  // no connection could be made
	DeliveryErrTimeout    = webhooksend.CategoryTimeout  // no answer in time
	DeliveryErrTLS        = webhooksend.CategoryTLS      // the TLS handshake or the certificate failed
	DeliveryErrNetwork    = webhooksend.CategoryNetwork  // the connection broke or the answer was not HTTP
	DeliveryErrInternal   = webhooksend.CategoryInternal // the server could not build the delivery
	deliveryErrHTTPStatus = "http_status_"               // followed by the status code of a non-2xx answer
)

// httpStatusCategory is the category of a non-2xx answer.
func httpStatusCategory(code int) string { return deliveryErrHTTPStatus + strconv.Itoa(code) }

// deliveryErrorShown is the category of a recorded attempt's error.
// Attempts recorded before categories existed may hold free text, which
// is not shown: their "status 500" becomes http_status_500, the rest
// network.
func deliveryErrorShown(s string) string {
	switch s {
	case "", DeliveryErrDNS, DeliveryErrRefused, DeliveryErrConnect, DeliveryErrTimeout, DeliveryErrTLS, DeliveryErrNetwork, DeliveryErrInternal:
		return s
	}
	for _, prefix := range []string{deliveryErrHTTPStatus, "status "} {
		if code, ok := strings.CutPrefix(s, prefix); ok {
			if n, err := strconv.Atoi(code); err == nil && len(code) == 3 && n >= 100 {
				return httpStatusCategory(n)
			}
		}
	}
	return DeliveryErrNetwork
}
