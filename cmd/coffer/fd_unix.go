//go:build unix

package main

import (
	"os"
	"syscall"
)

// openFD returns a file reading from a duplicate of descriptor fd. The
// duplicate is the keeper's own: closing it (or its finalizer doing so)
// never closes the caller's descriptor or whatever file later reuses that
// number.
func openFD(fd int) *os.File {
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return nil
	}
	syscall.CloseOnExec(nfd)
	return os.NewFile(uintptr(nfd), "passphrase-fd")
}
