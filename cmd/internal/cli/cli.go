// Package cli holds what the coffer binaries share about their command
// lines: the version line from the build information and shell completion
// scripts made from a command tree.
package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// VersionLine describes the build of prog: the module version, the
// revision it was built from and when, and the Go release.
func VersionLine(prog string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return prog + " (no build information) " + runtime.Version()
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	line := prog + " " + v
	if rev != "" {
		line += " revision " + rev + modified
	}
	if when != "" {
		line += " " + when
	}
	return line + " " + bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// Node is one place in a command tree: a command path ("" for the program
// itself, "admin issuer" for a group, "admin issuer add" for a command) and
// what may follow it there.
type Node struct {
	Path      string
	Words     []string // subcommands or fixed arguments
	Summaries []string // one per word, "" when none
	Flags     []string // flag names, without dashes
}

// dashed writes a flag name as it is typed: -c, --addr.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// slashed is a path with / between its words, as the scripts keep it.
func slashed(path string) string { return strings.Join(strings.Fields(path), "/") }

// knownPaths are the paths with something to complete, other than "".
func knownPaths(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		if n.Path != "" {
			out = append(out, slashed(n.Path))
		}
	}
	return out
}

// funcName is a shell function name made from prog.
func funcName(prog string) string {
	return "_" + strings.NewReplacer("-", "_", ".", "_").Replace(prog)
}

// Bash returns a bash completion script for prog. The command path is
// found by walking the words typed so far and keeping each one that
// extends a known path, so flags and their values may come anywhere.
func Bash(prog string, nodes []Node) string {
	fn := funcName(prog)
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s; made by '%s completion bash'.\n", prog, prog)
	fmt.Fprintf(&b, "%s() {\n", fn)
	fmt.Fprintf(&b, "    local known=' %s '\n", strings.Join(knownPaths(nodes), " "))
	b.WriteString(`    local cur="${COMP_WORDS[COMP_CWORD]}" path="" next w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        next="${path:+$path/}$w"
        case "$known" in *" $next "*) path="$next" ;; esac
    done
    local words="" flags=""
    case "$path" in
`)
	for _, n := range nodes {
		var flags []string
		for _, f := range n.Flags {
			flags = append(flags, dashed(f))
		}
		fmt.Fprintf(&b, "    %q) words=%q flags=%q ;;\n", slashed(n.Path), strings.Join(n.Words, " "), strings.Join(flags, " "))
	}
	b.WriteString(`    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}
`)
	fmt.Fprintf(&b, "complete -o default -F %s %s\n", fn, prog)
	return b.String()
}

// Zsh returns a zsh completion script for prog: the bash one, through
// zsh's bashcompinit (and compinit, when the shell has not loaded it).
func Zsh(prog string, nodes []Node) string {
	return fmt.Sprintf("#compdef %s\n# zsh completion for %s; made by '%s completion zsh'.\n", prog, prog, prog) +
		"(( $+functions[compdef] )) || { autoload -U +X compinit && compinit -u }\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" +
		Bash(prog, nodes)
}

// Fish returns a fish completion script for prog.
func Fish(prog string, nodes []Node) string {
	fn := strings.TrimPrefix(funcName(prog), "_") + "_at"
	fn = "__" + fn
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for %s; made by '%s completion fish'.\n", prog, prog)
	fmt.Fprintf(&b, "function %s\n", fn)
	fmt.Fprintf(&b, "    set -l known %s\n", strings.Join(knownPaths(nodes), " "))
	b.WriteString(`    set -l words (commandline -opc)
    set -e words[1]
    set -l path ""
    for w in $words
        set -l next $w
        test -n "$path"; and set next "$path/$w"
        contains -- $next $known; and set path $next
    end
    test "$path" = "$argv[1]"
end
`)
	for _, n := range nodes {
		cond := fmt.Sprintf("%s '%s'", fn, slashed(n.Path))
		for i, w := range n.Words {
			fmt.Fprintf(&b, "complete -c %s -n %s -f -a %s", prog, fishQuote(cond), fishQuote(w))
			if i < len(n.Summaries) && n.Summaries[i] != "" {
				fmt.Fprintf(&b, " -d %s", fishQuote(n.Summaries[i]))
			}
			b.WriteString("\n")
		}
		for _, f := range n.Flags {
			opt := "-l"
			if len(f) == 1 {
				opt = "-s"
			}
			fmt.Fprintf(&b, "complete -c %s -n %s %s %s\n", prog, fishQuote(cond), opt, fishQuote(f))
		}
	}
	return b.String()
}

// fishQuote quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
