package main

// The README is a tested contract: its walk-through runs here, as written,
// against the real binaries, and its first commands are what they claim.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmePath is the repository's README, seen from this package.
const readmePath = "../../README.md"

// walkthroughMarker precedes each fenced shell block of the README that the
// walk-through test runs; an HTML comment, so it does not render.
const walkthroughMarker = "<!-- walkthrough -->"

// readmeServer is the server address the README's commands use.
const readmeServer = "http://127.0.0.1:8080"

// readmeBlock is one fenced shell block of the README.
type readmeBlock struct {
	fence int      // 1-based README line of the opening ```sh
	lines []string // the lines between the fences
}

// readmeLines is the README, one string a line.
func readmeLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	return strings.Split(string(b), "\n")
}

// fencedBlock reads the fenced block whose opening fence is lines[i].
func fencedBlock(t *testing.T, lines []string, i int) readmeBlock {
	t.Helper()
	if !strings.HasPrefix(lines[i], "```sh") {
		t.Fatalf("README.md:%d: got %q, want a ```sh fence", i+1, lines[i])
	}
	b := readmeBlock{fence: i + 1}
	for j := i + 1; j < len(lines); j++ {
		if strings.HasPrefix(lines[j], "```") {
			return b
		}
		b.lines = append(b.lines, lines[j])
	}
	t.Fatalf("README.md:%d: the block is never closed", i+1)
	return b
}

// walkthroughBlocks returns the blocks marked with walkthroughMarker, in
// order; each marker must stand right above a ```sh fence.
func walkthroughBlocks(t *testing.T, lines []string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	for i, l := range lines {
		if strings.TrimSpace(l) != walkthroughMarker {
			continue
		}
		if i+1 >= len(lines) {
			t.Fatalf("README.md:%d: a walk-through marker with no block after it", i+1)
		}
		blocks = append(blocks, fencedBlock(t, lines, i+1))
	}
	return blocks
}

// walkthroughScript is a bash script of the blocks in which every README
// line keeps its line number (the lines outside the blocks are empty or
// announce the next block), so a failure names the README line.
func walkthroughScript(lines []string, blocks []readmeBlock) string {
	script := make([]string, len(lines))
	// Line 1 of the README is its title, outside any block.
	script[0] = `set -Eeuo pipefail; trap 'rc=$?; echo "README.md:$LINENO: exit $rc: $BASH_COMMAND" >&2' ERR`
	for n, b := range blocks {
		script[b.fence-1] = fmt.Sprintf(`echo "== block %d (README.md:%d)"; echo "== block %d (README.md:%d)" >&2`, n+1, b.fence, n+1, b.fence)
		copy(script[b.fence:], b.lines)
	}
	return strings.Join(script, "\n") + "\n"
}

func TestReadme_WalkthroughScript(t *testing.T) {
	lines := []string{"# t", "text", walkthroughMarker, "```sh", "A=1", "echo $A", "```", "", walkthroughMarker, "```sh", "false", "```"}
	blocks := walkthroughBlocks(t, lines)
	if len(blocks) != 2 || blocks[0].fence != 4 || blocks[1].fence != 10 {
		t.Fatalf("blocks: got %+v, want fences at lines 4 and 10", blocks)
	}
	got := strings.Split(walkthroughScript(lines, blocks), "\n")
	if got[4] != "A=1" || got[5] != "echo $A" || got[10] != "false" || got[1] != "" || got[6] != "" {
		t.Errorf("script: got %q, want the block lines at their README line numbers", got)
	}
}

// TestReadme_Walkthrough runs the README's walk-through blocks with bash in
// a directory holding ./coffer and ./cofferd (the built binaries, also first
// on PATH), with a server running on ./coffer-data as the README says. What
// a reader types when asked (the password, key file passphrases) comes from
// the COFFER_ variables the README names; the README's server address is
// replaced by the test server's.
func TestReadme_Walkthrough(t *testing.T) {
	needKeeper(t)
	lines := readmeLines(t)
	blocks := walkthroughBlocks(t, lines)
	if len(blocks) == 0 {
		t.Fatalf("README: got no block marked %s, want the walk-through's", walkthroughMarker)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("no bash: %v", err)
	}
	for _, tool := range []string{"jq", "curl", "openssl", "basenc", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the README walk-through needs %s: %v", tool, err)
			}
			t.Skipf("the README walk-through needs %s: %v", tool, err)
		}
	}
	t.Parallel()

	work := t.TempDir()
	for name, bin := range map[string]string{"cofferd": cofferdBin, "coffer": cofferBin} {
		if err := os.Symlink(bin, filepath.Join(work, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The server keeps its default limits on registrations and logins per
	// address, as a reader's would.
	s := startServerWith(t, filepath.Join(work, "coffer-data"), "--register-per-hour", "20", "--no-login-ip-limit=false")
	home := t.TempDir()
	script := filepath.Join(t.TempDir(), "walkthrough.sh")
	// The README's commands name the default address; this server has its own.
	text := strings.ReplaceAll(walkthroughScript(lines, blocks), readmeServer, s.url)
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bash, script)
	cmd.Dir = work
	cmd.Env = append(environWithout("COFFER_", "PATH="),
		"PATH="+filepath.Dir(cofferdBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"COFFER_PASSWORD="+e2ePassword, "COFFER_SERVER="+s.url,
		"COFFER_PASSPHRASE=readme key file passphrase", "COFFER_NEW_PASSPHRASE=readme new key file passphrase")
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README walk-through: %v; the failing line is named last:\nstderr:\n%s\nstdout:\n%s",
			err, tail(stderr.String(), 30), tail(stdout.String(), 30))
	}
	out := stdout.String()
	for _, want := range []string{"level personal", "created issuing purse", "250.00", "top-up", "not paid again", "belongs to member", "all invariants hold",
		"is now named \"till 2\"", "Restored key key_", "passphrase of", "revoked; it no longer signs",
		"costs 100.80 USD (fee 0.80)", "transfer dep-1, released", "transfer dep-2, returned", "Pays invoice inv_",
		"Refunded 40.00 USD", "Made 1 of 1 transfers",
		"last_name      match", "Revoked: member", "is now at level initial", "Linked ", "is closed",
		`"secret":"whsec_`, `"deliveries":`, s.url + "/pay?"} {
		if !strings.Contains(out, want) {
			t.Errorf("README walk-through output: got\n%s\nwant it to contain %q", out, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(home, ".config", "coffer", "sessions.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("README: sessions kept in ~/.config/coffer, mode 0600: got %v %v", fi, err)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
	}
	checkLedger(t, s.data)
}

// environWithout is os.Environ without the entries starting with any of the
// prefixes.
func environWithout(prefixes ...string) []string {
	var env []string
next:
	for _, e := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(e, p) {
				continue next
			}
		}
		env = append(env, e)
	}
	return env
}

// TestReadme_FirstCommands checks the README's opening block: the server on
// its embedded default (./coffer-data, http://127.0.0.1:8080) and the test
// suite script. The suite itself is not run from here.
func TestReadme_FirstCommands(t *testing.T) {
	needBinaries(t)
	lines := readmeLines(t)
	first := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "```sh") {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("README: no ```sh block")
	}
	b := fencedBlock(t, lines, first)
	if len(b.lines) < 2 {
		t.Fatalf("README's first block: got %q, want the server and the test suite", b.lines)
	}
	serve, _, _ := strings.Cut(b.lines[0], "#")
	args := strings.Fields(serve)
	if len(args) < 3 || strings.Join(args[:3], " ") != "go run ./cmd/cofferd" {
		t.Fatalf("README's first command: got %q, want go run ./cmd/cofferd …", b.lines[0])
	}
	if !strings.Contains(b.lines[0], "./coffer-data") || !strings.Contains(b.lines[0], "http://127.0.0.1:8080") {
		t.Errorf("README's first command: got %q, want it to name ./coffer-data and http://127.0.0.1:8080", b.lines[0])
	}

	t.Run("serve", func(t *testing.T) {
		work := t.TempDir()
		// The defaults are used as written when their ports are free; on a
		// busy machine another process may hold them, and then the server
		// goes on port 0 while the defaults are read from its usage.
		defaults := portFree("127.0.0.1:8080") && portFree("127.0.0.1:9464")
		var url string
		var stop func() int
		if defaults {
			url, stop = startReadmeServer(t, work, args[3:], true)
		}
		if url == "" {
			t.Logf("127.0.0.1:8080 or :9464 is taken on this machine: serving on port 0, the defaults read from cofferd serve -h")
			defaults = false
			url, stop = startReadmeServer(t, work, append(args[3:], "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"), false)
		}
		if defaults {
			if url != "http://127.0.0.1:8080" {
				t.Errorf("cofferd serve: got listening on %s, want http://127.0.0.1:8080", url)
			}
		} else {
			// The usage names the defaults: (default "127.0.0.1:8080").
			o, e, _ := cofferd(t, "serve", "-h")
			if usage := o + e; !strings.Contains(usage, `"127.0.0.1:8080"`) {
				t.Errorf("cofferd serve -h: got\n%s\nwant the default address 127.0.0.1:8080", usage)
			}
		}
		if fi, err := os.Stat(filepath.Join(work, "coffer-data", "coffer.db")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("cofferd serve in %s: got %v %v, want ./coffer-data/coffer.db", work, fi, err)
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
			t.Errorf("GET /healthz: got %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
		}
		if code := stop(); code != 0 {
			t.Errorf("cofferd after SIGTERM: got exit %d, want 0", code)
		}
	})

	t.Run("test suite", func(t *testing.T) {
		suite, _, _ := strings.Cut(b.lines[1], "#")
		suite = strings.TrimSpace(suite)
		if suite != "scripts/test" {
			t.Fatalf("README's second command: got %q, want scripts/test", b.lines[1])
		}
		path := filepath.Join("../..", suite)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Fatalf("%s: got %v %v, want an executable file", suite, fi, err)
		}
		if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v %s", suite, err, out)
		}
		src, _ := os.ReadFile(path)
		// What the README says it runs: vet, -race tests of every package
		// (the end-to-end tests among them), short fuzzing of every target.
		for _, want := range []string{"go vet ./...", "go test -race", "./...", "-fuzz=", "^func Fuzz"} {
			if !bytes.Contains(src, []byte(want)) {
				t.Errorf("%s: got no %q, want vet, -race tests of ./... and fuzzing of every target", suite, want)
			}
		}
	})
}

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// startReadmeServer runs the built cofferd with args in dir and returns the
// URL it listens on and a function that stops it with SIGTERM and returns
// its exit code. With mayLose, a server that cannot bind its address
// returns an empty URL instead of failing the test.
func startReadmeServer(t *testing.T, dir string, args []string, mayLose bool) (string, func() int) {
	t.Helper()
	cmd := exec.Command(cofferdBin, args...)
	cmd.Dir = dir
	cmd.Env = environWithout("COFFER_")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start cofferd %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	exited := false
	var waitErr error
	stop := func() int {
		if !exited {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case waitErr = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				waitErr = <-done
			}
			exited = true
		}
		return exitCodeOf(waitErr)
	}
	t.Cleanup(func() {
		if !exited {
			cmd.Process.Kill()
			<-done
			exited = true
		}
	})
	select {
	case u := <-urls:
		return u, stop
	case waitErr = <-done:
		exited = true
		if mayLose && strings.Contains(stderr.String(), "address already in use") {
			return "", stop
		}
		t.Fatalf("cofferd %s exited before listening: %v\n%s", strings.Join(args, " "), waitErr, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("cofferd %s did not say where it listens within 30 s\n%s", strings.Join(args, " "), stderr.String())
	}
	return "", stop
}

var (
	designRef    = regexp.MustCompile(`DESIGN\.md\x60?\]?(?:\([^)]*\))?\s*§(\d+)`)
	markdownLink = regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)
)

// TestReadme_References checks that the README's links to files of the
// repository lead to files that exist, and that each section of DESIGN.md
// it names (DESIGN.md §N) is there.
func TestReadme_References(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	design, err := os.ReadFile("../../DESIGN.md")
	if err != nil {
		t.Fatalf("the README points to DESIGN.md: %v", err)
	}
	refs := designRef.FindAllStringSubmatch(string(readme), -1)
	if len(refs) == 0 {
		t.Errorf("README: got no DESIGN.md §N reference, want the invariants and the API contract named")
	}
	for _, m := range refs {
		if !bytes.Contains(design, []byte("\n## "+m[1]+". ")) {
			t.Errorf("README names DESIGN.md §%s: DESIGN.md has no section \"## %s. …\"", m[1], m[1])
		}
	}
	for _, m := range markdownLink.FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "://") || strings.HasPrefix(m[1], "mailto:") {
			continue
		}
		if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
			t.Errorf("README links to %s: %v", m[1], err)
		}
	}
}
