package httpapi

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// registerFreeBytes registers coffer_data_dir_free_bytes: the bytes of the
// data directory's file system that the server's user may still write
// (the blocks reserved for root left out).
func registerFreeBytes(reg *prometheus.Registry, dir string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coffer_data_dir_free_bytes",
		Help: "Free bytes, for the server's user, on the file system of the data directory."}, func() float64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return -1
		}
		return float64(st.Bavail) * float64(st.Bsize)
	}))
}
