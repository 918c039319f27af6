//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// checkFileLimit refuses a bench of c clients that would run out of file
// descriptors: each client holds a connection, and an in-process server
// the other end of it. (Go raises the soft limit to the hard one when the
// program starts; the hard one is the operator's: ulimit -Hn.)
func checkFileLimit(c int, inProcess bool) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil // unknown: let the run tell
	}
	need := uint64(c) + 256
	if inProcess {
		need += uint64(c)
	}
	if rl.Cur < need {
		return fmt.Errorf("bench: %d clients need about %d file descriptors, and the limit is %d: raise it (ulimit -n %d)", c, need, rl.Cur, need)
	}
	return nil
}
