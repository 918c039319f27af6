//go:build race

package ledger_test

// raceEnabled: the race detector slows the pure-Go SQLite down many times
// over, so property tests run fewer cases under it (TestMain); scripts/test
// also runs them without the detector at full depth.
const raceEnabled = true
