//go:build !linux

package httpapi

import "github.com/prometheus/client_golang/prometheus"

// registerFreeBytes leaves coffer_data_dir_free_bytes out: it is measured
// on Linux only.
func registerFreeBytes(*prometheus.Registry, string) {}
