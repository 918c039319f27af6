package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-money/coffer"
)

// UploadConfig bounds the verification documents that wait, sealed with the
// documents key, in files of Dir for the request that submits them. A zero
// field takes its default.
type UploadConfig struct {
	// Dir holds the waiting documents; "" refuses uploads (EUNAVAILABLE).
	// It belongs to one server process: files there that this process
	// does not hold are deleted when it starts.
	Dir             string
	PerMember       int   // documents waiting per member; default MaxDocumentsPerRequest
	PerMemberBytes  int64 // bytes waiting per member; default MaxDocumentsPerRequest × MaxDocumentBytes
	PerAddress      int   // documents waiting per client address; default 20
	PerAddressBytes int64 // bytes waiting per client address; default 64 MiB
	TotalBytes      int64 // bytes waiting in all; default 1 GiB
	// TTL is how long a document waits before it is deleted; default an hour.
	TTL time.Duration
}

func (c *UploadConfig) defaults() {
	if c.PerMember <= 0 {
		c.PerMember = MaxDocumentsPerRequest
	}
	if c.PerMemberBytes <= 0 {
		c.PerMemberBytes = MaxDocumentsPerRequest * MaxDocumentBytes
	}
	if c.PerAddress <= 0 {
		c.PerAddress = 20
	}
	if c.PerAddressBytes <= 0 {
		c.PerAddressBytes = 64 << 20
	}
	if c.TotalBytes <= 0 {
		c.TotalBytes = 1 << 30
	}
	if c.TTL <= 0 {
		c.TTL = time.Hour
	}
}

// uploadSuffix names the spool's files, so that the sweep at start deletes
// nothing else that may lie in the directory.
const uploadSuffix = ".sealed"

// waitingDocument is an upload in the spool: its facts in memory, its
// sealed content in the file named by its ID.
type waitingDocument struct {
	doc  *coffer.Document // Sealed is nil; the file holds it
	ip   string
	at   time.Time
	disk int64 // bytes of the file
}

func (v *verificationState) path(id string) string {
	return filepath.Join(v.cfg.Dir, id+uploadSuffix)
}

// openSpool makes the spool directory and deletes what a former run left
// in it: documents wait for one process only, and a restart must not leave
// files no one will delete.
func (v *verificationState) openSpool() error {
	if v.cfg.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(v.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("upload directory: %w", err)
	}
	entries, err := os.ReadDir(v.cfg.Dir)
	if err != nil {
		return fmt.Errorf("upload directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), uploadSuffix) {
			if err := os.Remove(filepath.Join(v.cfg.Dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// reserve checks the quotas for a document of size bytes (disk on disk)
// from memberID at ip and, when they allow it, holds its place; v.mu is
// held. Errors: ERATELIMITED (too many documents waiting), EUPLOADQUOTA
// (too many bytes), EUNAVAILABLE (the spool is full).
func (v *verificationState) reserve(d *coffer.Document, ip string, disk int64, now time.Time) error {
	ip = AddrKey(ip) // an IPv6 client is its /64
	var mine, here int
	var mineBytes, hereBytes int64
	var mineOldest, hereOldest time.Time
	for _, w := range v.held {
		if w.doc.MemberID == d.MemberID {
			mine++
			mineBytes += w.doc.Size
			if mineOldest.IsZero() || w.at.Before(mineOldest) {
				mineOldest = w.at
			}
		}
		if ip != "" && w.ip == ip {
			here++
			hereBytes += w.doc.Size
			if hereOldest.IsZero() || w.at.Before(hereOldest) {
				hereOldest = w.at
			}
		}
	}
	wait := func(oldest time.Time) error {
		return &RateLimitError{RetryAfter: max(oldest.Add(v.cfg.TTL).Sub(now), time.Second)}
	}
	switch {
	case mine >= v.cfg.PerMember:
		return &coffer.Error{Code: coffer.ERATELIMITED, Err: wait(mineOldest),
			Message: fmt.Sprintf("You have %d documents waiting; submit them in a verification request first (uploads wait for %s).", mine, v.cfg.TTL)}
	case here >= v.cfg.PerAddress:
		return &coffer.Error{Code: coffer.ERATELIMITED, Err: wait(hereOldest),
			Message: "Too many documents are waiting from your address; submit them or try again later."}
	case mineBytes+d.Size > v.cfg.PerMemberBytes:
		return coffer.Errorf(coffer.EUPLOADQUOTA, "Your waiting documents may take at most %d MiB together; submit them in a verification request first.", v.cfg.PerMemberBytes>>20)
	case hereBytes+d.Size > v.cfg.PerAddressBytes:
		return coffer.Errorf(coffer.EUPLOADQUOTA, "The documents waiting from your address may take at most %d MiB together; try again later.", v.cfg.PerAddressBytes>>20)
	case v.heldBytes+disk > v.cfg.TotalBytes:
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "The server holds too many uploads right now; try again in a few minutes.",
			Err: &RateLimitError{RetryAfter: 5 * time.Minute}}
	}
	v.held[d.ID] = &waitingDocument{doc: d, ip: ip, at: now, disk: disk}
	v.heldBytes += disk
	return nil
}

// drop forgets a waiting document and deletes its file; v.mu is held.
func (v *verificationState) drop(id string) error {
	w := v.held[id]
	if w == nil {
		return nil
	}
	delete(v.held, id)
	v.heldBytes -= w.disk
	if err := os.Remove(v.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// sweep deletes the documents that waited longer than the TTL; v.mu is
// held.
func (v *verificationState) sweep(now time.Time) error {
	var errs []error
	for id, w := range v.held {
		if now.Sub(w.at) > v.cfg.TTL {
			errs = append(errs, v.drop(id))
		}
	}
	return errors.Join(errs...)
}

// writeSpooled stores sealed as the file of document id; only the server's
// user may read it.
func (v *verificationState) writeSpooled(id string, sealed []byte) error {
	f, err := os.OpenFile(v.path(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(sealed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SweepUploads deletes the verification documents that waited too long
// for their request. The scheduler calls it; uploads and submissions do too.
func (s *Service) SweepUploads() {
	v := &s.ver
	v.mu.Lock()
	err := v.sweep(s.now())
	v.mu.Unlock()
	if err != nil {
		s.log.Error("delete expired uploads", "err", err)
	}
}
