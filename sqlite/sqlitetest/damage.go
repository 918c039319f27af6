// Package sqlitetest damages a closed SQLite store file in place, the way a
// failing disk or a stray write would, for tests of how coffer notices.
package sqlitetest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"testing"

	_ "modernc.org/sqlite" // the driver
)

// Page is one page of a database file.
type Page struct {
	Number int64 // from 1
	Size   int64
}

// RootPage returns the root page of the named table or index. The file
// must be closed by every other connection: closing the last one here
// checkpoints the WAL into the file.
func RootPage(t testing.TB, path, name string) Page {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var p Page
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, `SELECT rootpage FROM sqlite_schema WHERE name = ?`, name).Scan(&p.Number); err != nil {
		t.Fatalf("root page of %s: %v", name, err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&p.Size); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPage(t testing.TB, path string, p Page) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, p.Size)
	if _, err := f.ReadAt(b, (p.Number-1)*p.Size); err != nil {
		t.Fatalf("read page %d: %v", p.Number, err)
	}
	return b
}

func writePage(t testing.TB, path string, p Page, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, (p.Number-1)*p.Size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("%s-wal exists: the database was not closed, the damage may be overwritten", path)
	}
}

// ZeroPage writes zeros over a whole page.
func ZeroPage(t testing.TB, path string, p Page) {
	t.Helper()
	writePage(t, path, p, make([]byte, p.Size))
}

// ChangeKey changes the last byte of the first occurrence of key inside a
// page to repl: in an index page, the entry then holds another key, and a
// lookup of key no longer finds its row. It fails the test when the page
// does not hold key.
func ChangeKey(t testing.TB, path string, p Page, key []byte, repl byte) {
	t.Helper()
	b := readPage(t, path, p)
	i := bytes.Index(b, key)
	if i < 0 {
		t.Fatalf("page %d does not hold %q", p.Number, key)
	}
	b[i+len(key)-1] = repl
	writePage(t, path, p, b)
}

// SetColumn changes in place an integer column of the row with the given
// rowid on a leaf page of a table b-tree: col counts from 0 in the table's
// column order (an INTEGER PRIMARY KEY column is stored as NULL and still
// counts). The new value must fit the bytes the old one took.
func SetColumn(t testing.TB, path string, p Page, rowid int64, col int, v int64) {
	t.Helper()
	b := readPage(t, path, p)
	h := 0
	if p.Number == 1 {
		h = 100
	}
	if b[h] != 0x0d {
		t.Fatalf("page %d is not a table leaf page (type %#x)", p.Number, b[h])
	}
	n := int(binary.BigEndian.Uint16(b[h+3:]))
	for c := 0; c < n; c++ {
		off := int(binary.BigEndian.Uint16(b[h+8+2*c:]))
		_, k := varint(b[off:])
		off += k
		id, k := varint(b[off:])
		off += k
		if int64(id) != rowid {
			continue
		}
		hdrLen, k := varint(b[off:])
		body := off + int(hdrLen)
		pos := off + k
		for i := 0; ; i++ {
			if pos >= off+int(hdrLen) {
				t.Fatalf("row %d has no column %d", rowid, col)
			}
			st, k := varint(b[pos:])
			pos += k
			size := serialSize(st)
			if i == col {
				if st < 1 || st > 6 || st == 5 {
					t.Fatalf("column %d of row %d is not a small integer (serial type %d)", col, rowid, st)
				}
				for j := size - 1; j >= 0; j-- {
					b[body+j] = byte(v)
					v >>= 8
				}
				writePage(t, path, p, b)
				return
			}
			body += size
		}
	}
	t.Fatalf("page %d holds no row %d", p.Number, rowid)
}

func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return v, 9
}

func serialSize(st uint64) int {
	switch {
	case st <= 4:
		return []int{0, 1, 2, 3, 4}[st]
	case st == 5:
		return 6
	case st == 6 || st == 7:
		return 8
	case st == 8 || st == 9:
		return 0
	case st >= 12:
		return int(st-12) / 2
	}
	return 0
}
