package app

import "testing"

// TestValidateCallbackURL: IP literals in every spelling are judged by
// the address rules; names that are numbers in disguise are refused.
func TestValidateCallbackURL(t *testing.T) {
	for _, c := range []struct {
		url  string
		loop bool
		ok   bool
	}{
		{"https://shop.example/hook", false, true},
		{"https://8.8.8.8/hook", false, true},
		{"https://[2606:4700:4700::1111]/hook", false, true},
		{"https://10.0.0.1/hook", false, false},
		{"https://100.64.1.1/hook", false, false},
		{"https://198.18.0.1/hook", false, false},
		{"https://0.0.0.0/hook", false, false},
		{"https://169.254.169.254/latest", false, false},
		{"https://[::ffff:10.0.0.1]/hook", false, false},
		{"https://[::ffff:a00:1]/hook", false, false},
		{"https://[64:ff9b::a00:1]/hook", false, false},
		{"https://[2002:a00:1::1]/hook", false, false},
		{"https://[fe80::1%25eth0]/hook", false, false},
		{"https://[fd00::1]/hook", false, false},
		{"https://2130706433/hook", false, false},
		{"https://0x7f000001/hook", false, false},
		{"https://127.1/hook", false, false},
		{"https://./hook", false, false},
		{"https://shop.example./hook", false, true},
		{"https://localhost/hook", false, false},
		{"https://LOCALHOST./hook", false, false},
		{"https://127.0.0.1/hook", false, false},
		{"https://127.0.0.1/hook", true, true},
		{"http://127.0.0.1:8080/hook", true, true},
		{"http://[::1]:8080/hook", true, true},
		{"http://localhost:8080/hook", true, true},
		{"http://shop.example/hook", true, false},
		{"https://10.0.0.1/hook", true, false},
	} {
		_, err := ValidateCallbackURL(c.url, c.loop, "url")
		if (err == nil) != c.ok {
			t.Errorf("ValidateCallbackURL(%q, loopback %v) = %v, want ok %v", c.url, c.loop, err, c.ok)
		}
	}
}

// TestDeliveryErrorShown: recorded attempts show categories, never text.
func TestDeliveryErrorShown(t *testing.T) {
	for in, want := range map[string]string{"": "", "dns": "dns", "http_status_503": "http_status_503", "status 500": "http_status_500",
		"dial tcp 10.0.0.7:443: connect: connection refused": DeliveryErrNetwork, "http_status_5000": DeliveryErrNetwork} {
		if got := deliveryErrorShown(in); got != want {
			t.Errorf("deliveryErrorShown(%q) = %q, want %q", in, got, want)
		}
	}
}
