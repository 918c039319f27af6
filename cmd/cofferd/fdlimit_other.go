//go:build !unix

package main

// checkFileLimit has nothing to check where there is no RLIMIT_NOFILE.
func checkFileLimit(int, bool) error { return nil }
