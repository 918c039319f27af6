package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRun_HelpEveryCommand: --help and -h on every command and subcommand
// exit 0 and print the command's usage on stdout.
func TestRun_HelpEveryCommand(t *testing.T) {
	k := newKeeper(t)
	var cases [][]string
	for _, c := range commands {
		for _, h := range []string{"--help", "-h"} {
			cases = append(cases, []string{c.name, h})
			for _, sub := range c.subs {
				cases = append(cases, []string{c.name, sub, h})
			}
		}
	}
	for _, args := range cases {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			r := k.run("", args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: coffer "+args[0]) || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and a Usage line", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestRun_Subcommands: the subcommands the help and the completion list
// are ones the commands take: an unknown word is refused by name, a listed
// one is not.
func TestRun_Subcommands(t *testing.T) {
	k := newKeeper(t)
	checked := 0
	for _, c := range commands {
		if len(c.subs) == 0 || c.name == "completion" {
			continue
		}
		unknown := k.run("", c.name, "zzz").stderr
		if !strings.Contains(unknown, "zzz") {
			continue // the command cannot tell an unknown subcommand from an argument
		}
		checked++
		for _, sub := range c.subs {
			if got := k.run("", c.name, sub).stderr; got == strings.ReplaceAll(unknown, "zzz", sub) {
				t.Errorf("coffer %s %s: %q; the listed subcommand is unknown", c.name, sub, got)
			}
		}
	}
	if checked < 10 {
		t.Errorf("%d commands told an unknown subcommand apart; want at least 10", checked)
	}
}

func TestRun_Version(t *testing.T) {
	k := newKeeper(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := k.run("", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "coffer ") || !strings.Contains(r.stdout, runtime.Version()) {
			t.Errorf("%v: exit %d, %q %q; want the keeper's version and %s", args, r.code, r.stdout, r.stderr, runtime.Version())
		}
	}
}

// TestRun_Completion: the bash script is valid, names every command, and
// completes commands, subcommands and flags when bash runs it.
func TestRun_Completion(t *testing.T) {
	k := newKeeper(t)
	r := k.run("", "completion", "bash")
	if r.code != 0 {
		t.Fatalf("completion bash: exit %d %s", r.code, r.stderr)
	}
	script := r.stdout
	for _, c := range commands {
		if !strings.Contains(script, " "+c.name+" ") {
			t.Errorf("the script does not name %q", c.name)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		missingTool(t, "no bash")
	}
	file := filepath.Join(t.TempDir(), "coffer.bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	tests := []struct {
		line string
		want []string
	}{
		{"coffer sen", []string{"send", "send-batch"}},
		{"coffer invoice ", strings.Fields("new list show pay refuse cancel")},
		{"coffer --server http://x:1 invoice new --pay", []string{"--payer"}},
		{"coffer history Z123456789012 --sta", []string{"--statement"}},
		{"coffer purse limits --per-d", []string{"--per-day"}},
		{"coffer --vers", []string{"--version"}},
	}
	for _, tt := range tests {
		drive := `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _coffer; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "-c", drive, "-", file, tt.line).CombinedOutput()
		if err != nil {
			t.Errorf("complete %q: %v\n%s", tt.line, err, out)
			continue
		}
		if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("complete %q: got %q, want %q", tt.line, got, tt.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		r := k.run("", "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "invoice/new") {
			t.Errorf("completion %s: exit %d %q", shell, r.code, r.stderr)
			continue
		}
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s not installed: its script is not parsed", shell)
			continue
		}
		f := filepath.Join(t.TempDir(), "coffer."+shell)
		os.WriteFile(f, []byte(r.stdout), 0o644)
		if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
	}
	if r := k.run("", "completion", "tcsh"); r.code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", r.code)
	}
}
