package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/coffer-money/coffer/app"
)

// uploadOptions are the flags of the verification documents that wait,
// sealed on disk, for the request that submits them.
type uploadOptions struct {
	dir           string
	perAddress    int
	perAddressMiB int64
	totalMiB      int64
}

func (o *uploadOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "upload-dir", "", "directory where uploaded verification documents wait, sealed, for their request (default DATA/uploads, with PostgreSQL too)")
	fs.IntVar(&o.perAddress, "uploads-per-address", 20, "documents that may wait at once from one client address")
	fs.Int64Var(&o.perAddressMiB, "upload-mib-per-address", 64, "MiB of documents that may wait at once from one client address")
	fs.Int64Var(&o.totalMiB, "upload-mib-total", 1024, "MiB of documents that may wait at once in all")
}

// config returns the service's upload settings for the data directory.
func (o *uploadOptions) config(data string) (app.UploadConfig, error) {
	if o.perAddress < 1 || o.perAddressMiB < 1 || o.totalMiB < 1 {
		return app.UploadConfig{}, fmt.Errorf("--uploads-per-address, --upload-mib-per-address and --upload-mib-total must be positive")
	}
	dir := o.dir
	if dir == "" {
		dir = filepath.Join(data, "uploads")
	}
	return app.UploadConfig{Dir: dir, PerAddress: o.perAddress, PerAddressBytes: o.perAddressMiB << 20, TotalBytes: o.totalMiB << 20}, nil
}
