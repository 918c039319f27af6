package main

import (
	"os"
	"testing"
)

// missingTool skips a test whose independent tool is not installed, but
// fails it in CI, where .ci/run installs every such tool.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI installs it: see .ci/run)")
	}
	t.Skip(msg)
}
