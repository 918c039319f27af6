//go:build !unix

package main

import "os"

// openFD returns a file reading from descriptor fd.
func openFD(fd int) *os.File { return os.NewFile(uintptr(fd), "passphrase-fd") }
