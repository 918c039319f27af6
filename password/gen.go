//go:build ignore

// gen.go regenerates common-passwords.txt.gz, the embedded list of common
// and breached passwords that Check refuses.
//
// The source is the "passwords" frequency list of zxcvbn 4.4.2 (MIT
// licence, see NOTICE), about 30,000 passwords ranked by how often they
// appeared in real breaches. It is not fetched at build time so that builds
// stay hermetic and the list under review is the list that ships:
//
//	cd "$(mktemp -d)"
//	npm pack zxcvbn@4.4.2
//	tar xzf zxcvbn-4.4.2.tgz
//	cd /path/to/coffer/password
//	go run gen.go "$OLDPWD/package/lib/frequency_lists.js"
//
// Entries are lower-cased and trimmed (Check compares that way), empty ones
// dropped and duplicates removed, keeping the breach-frequency order so the
// file diffs sensibly if the source is ever updated. The gzip header carries
// no name or time so the output is byte-for-byte reproducible.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run gen.go path/to/zxcvbn/lib/frequency_lists.js")
	}
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	raw, err := jsString(string(src), `passwords: "`)
	if err != nil {
		log.Fatal(err)
	}

	seen := make(map[string]bool)
	var out bytes.Buffer
	n := 0
	for _, p := range strings.Split(raw, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out.WriteString(p)
		out.WriteByte('\n')
		n++
	}

	f, err := os.Create("common-passwords.txt.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := zw.Write(out.Bytes()); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d passwords\n", n)
}

// jsString returns the contents of the double-quoted JavaScript string
// literal that follows marker, undoing backslash escapes (the list contains
// entries such as pic\'s).
func jsString(src, marker string) (string, error) {
	i := strings.Index(src, marker)
	if i < 0 {
		return "", fmt.Errorf("%q not found", marker)
	}
	var b strings.Builder
	for j := i + len(marker); j < len(src); j++ {
		switch c := src[j]; c {
		case '"':
			return b.String(), nil
		case '\\':
			j++
			if j == len(src) {
				return "", fmt.Errorf("unterminated escape")
			}
			if !strings.ContainsRune(`\'"`, rune(src[j])) {
				return "", fmt.Errorf("unsupported escape \\%c", src[j])
			}
			b.WriteByte(src[j])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated string")
}
