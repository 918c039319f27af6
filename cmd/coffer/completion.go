package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/coffer-money/coffer/cmd/internal/cli"
)

// versionFlag defines --version, which only the keeper itself takes (not
// its commands).
func versionFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "print the keeper's version and exit")
}

func cmdVersion(a *app, args []string) error {
	fs := a.flags("version")
	if _, err := a.parse(fs, "version", args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, cli.VersionLine("coffer"))
	return nil
}

const completionHelp = `Load it in the running shell with:
  bash:  source <(coffer completion bash)
  zsh:   source <(coffer completion zsh)
  fish:  coffer completion fish | source`

func cmdCompletion(a *app, args []string) error {
	fs := a.flags("completion")
	pos, err := a.parse(fs, "completion", args, 1, 1)
	if err != nil {
		return err
	}
	nodes, err := completionTree()
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(a.stdout, cli.Bash("coffer", nodes))
	case "zsh":
		fmt.Fprint(a.stdout, cli.Zsh("coffer", nodes))
	case "fish":
		fmt.Fprint(a.stdout, cli.Fish("coffer", nodes))
	default:
		return &usageError{msg: fmt.Sprintf("completion: unknown shell %q (bash, zsh or fish)", pos[0]), cmd: "completion"}
	}
	return nil
}

// completionTree is the keeper's command tree: the commands, their
// subcommands, and the flags each one's flag set really has.
func completionTree() ([]cli.Node, error) {
	root := cli.Node{Path: ""}
	for _, c := range commands {
		root.Words = append(root.Words, c.name)
		root.Summaries = append(root.Summaries, c.summary)
	}
	fs := flag.NewFlagSet("coffer", flag.ContinueOnError)
	(&app{}).globalFlags(fs)
	versionFlag(fs)
	root.Flags = flagNames(fs)
	nodes := []cli.Node{root}
	for _, c := range commands {
		flags, err := commandFlags(c, nil)
		if err != nil {
			return nil, err
		}
		n := cli.Node{Path: c.name, Words: c.subs, Flags: flags}
		if c.name == "help" {
			n.Words, n.Summaries = root.Words, root.Summaries
		}
		nodes = append(nodes, n)
		if c.name == "completion" {
			continue // its words are arguments, not commands
		}
		for _, sub := range c.subs {
			flags, err := commandFlags(c, []string{sub})
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, cli.Node{Path: c.name + " " + sub, Flags: flags})
		}
	}
	return nodes, nil
}

// commandFlags runs c with args until it parses its flags and returns
// their names, "help" added.
func commandFlags(c *command, args []string) ([]string, error) {
	var got *flag.FlagSet
	a := newApp(context.Background(), nil, io.Discard, io.Discard, nil)
	a.capture = func(fs *flag.FlagSet) { got = fs }
	if err := c.run(a, args); !errors.Is(err, errFlagsCaptured) {
		return nil, fmt.Errorf("coffer %s: no flags parsed (%v)", strings.TrimSpace(c.name+" "+strings.Join(args, " ")), err)
	}
	return append(flagNames(got), "help"), nil
}

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names
}
