package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCofferd_Help: --help and -h on cofferd, on every group of commands
// and on every command exit 0 and print the usage on stdout.
func TestCofferd_Help(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	type helpCase struct {
		args []string
		want string // the usage line starts so
	}
	cases := []helpCase{
		{[]string{"--help"}, "Usage: cofferd COMMAND"},
		{[]string{"-h"}, "Usage: cofferd COMMAND"},
		{[]string{"help"}, "Usage: cofferd COMMAND"},
		{[]string{"help", "admin", "issuer"}, "Usage: cofferd admin issuer COMMAND"},
		{[]string{"help", "serve"}, "Usage: cofferd serve"},
	}
	groups := map[string]bool{}
	for _, c := range commandTable {
		words := strings.Fields(c.path)
		for i := 1; i < len(words); i++ {
			g := strings.Join(words[:i], " ")
			if !groups[g] {
				groups[g] = true
				cases = append(cases, helpCase{append(words[:i:i], "--help"), "Usage: cofferd " + g + " COMMAND"})
			}
		}
		for _, h := range []string{"--help", "-h"} {
			cases = append(cases, helpCase{append(words[:len(words):len(words)], h), "Usage: cofferd " + c.path})
		}
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, errOut, code := cofferdEnv(t, nil, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, errOut)
			}
			if !strings.HasPrefix(out, tc.want) && !strings.Contains(out, "\n"+tc.want) {
				t.Errorf("stdout:\n%s\nwant a line starting %q", out, tc.want)
			}
		})
	}
}

// TestCofferd_UsageErrors: a missing or unknown command or a bad flag
// exits 2 with the usage on stderr.
func TestCofferd_UsageErrors(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: cofferd COMMAND"},
		{[]string{"nonsense"}, `unknown command "nonsense"`},
		{[]string{"admin"}, "Usage: cofferd admin COMMAND"},
		{[]string{"admin", "issuer"}, "Usage: cofferd admin issuer COMMAND"},
		{[]string{"admin", "issuer", "remove"}, `unknown command "remove"`},
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
	}
	for _, tt := range tests {
		_, errOut, code := cofferdEnv(t, nil, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("cofferd %v: got exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

// TestCofferd_Version: version and --version print the build's version.
func TestCofferd_Version(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := cofferdEnv(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "cofferd ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("cofferd %v: got exit %d, %q %q; want cofferd's version and %s", args, code, out, errOut, runtime.Version())
		}
	}
}

// TestCofferd_Completion: the bash script is valid, names every command,
// and completes subcommands and flags when bash runs it.
func TestCofferd_Completion(t *testing.T) {
	needBinaries(t)
	t.Parallel()
	script, errOut, code := cofferdEnv(t, nil, "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d\n%s", code, errOut)
	}
	checkCompletion(t, "cofferd", script, []completionCase{
		{"cofferd ", strings.Fields("serve config check backup restore admin bench version completion help")},
		{"cofferd admin iss", []string{"issuer"}},
		{"cofferd admin issuer ", []string{"add"}},
		{"cofferd admin issuer add --cur", []string{"--currency"}},
		{"cofferd serve --db-t", []string{"--db-timeout"}},
		{"cofferd serve --data /tmp --log-f", []string{"--log-format"}},
		{"cofferd completion ", []string{"bash", "zsh", "fish"}},
	})
	for _, c := range commandTable {
		if top, _, _ := strings.Cut(c.path, " "); !strings.Contains(script, top) {
			t.Errorf("the bash script does not name %q", top)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		script, errOut, code := cofferdEnv(t, nil, "completion", shell)
		if code != 0 || !strings.Contains(script, "admin/issuer/add") || !strings.Contains(script, "db-timeout") {
			t.Errorf("completion %s: exit %d %q; want a script with the commands and flags", shell, code, errOut)
			continue
		}
		syntaxCheck(t, shell, script)
	}
}

// completionCase is a command line typed so far and the completions
// expected for its last word.
type completionCase struct {
	line string
	want []string
}

// checkCompletion checks a bash script with bash -n, then sources it and
// asks it to complete each case's line.
func checkCompletion(t *testing.T, prog, script string, cases []completionCase) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		missingTool(t, "no bash")
	}
	syntaxCheck(t, "bash", script)
	file := filepath.Join(t.TempDir(), prog+".bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	fn := "_" + prog
	for _, tc := range cases {
		drive := `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); ` +
			fn + `; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "-c", drive, "-", file, tc.line).CombinedOutput()
		if err != nil {
			t.Errorf("complete %q: %v\n%s", tc.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("complete %q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}

// syntaxCheck parses script with shell without running it; a shell that is
// not installed is skipped, except bash.
func syntaxCheck(t *testing.T, shell, script string) {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		if shell == "bash" {
			missingTool(t, "no bash")
		}
		t.Logf("%s not installed: its completion script is not parsed", shell)
		return
	}
	file := filepath.Join(t.TempDir(), "completion."+shell)
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
		t.Errorf("%s -n: %v\n%s", shell, err, out)
	}
}
