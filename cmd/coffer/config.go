package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// sessionsFile is the file in the config directory that holds the saved
// sessions. It contains bearer tokens, so only its owner may read it.
const sessionsFile = "sessions.json"

// credentials is one saved session: what the keeper needs to act as a
// member.
type credentials struct {
	Server    string    `json:"server"`
	MemberID  string    `json:"member_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// config is the content of the sessions file: sessions side by side, keyed
// by member ID, and which one acts when --as is not given.
type config struct {
	Default string                  `json:"default,omitempty"`
	Members map[string]*credentials `json:"members"`
}

// pick returns the session of member as, or the default one. With no
// default, a single saved session is used.
func (c *config) pick(as string) (*credentials, error) {
	if as != "" {
		if cr := c.Members[as]; cr != nil {
			return cr, nil
		}
		return nil, fmt.Errorf("no saved session for member %s: log in with 'coffer login %s'", as, as)
	}
	if cr := c.Members[c.Default]; cr != nil {
		return cr, nil
	}
	switch len(c.Members) {
	case 0:
		return nil, errors.New("not logged in: run 'coffer login MEMBER_ID' (or 'coffer register' to get one)")
	case 1:
		for _, cr := range c.Members {
			return cr, nil
		}
	}
	return nil, fmt.Errorf("sessions of several members are saved (%s): choose one with --as MEMBER_ID",
		strings.Join(c.memberIDs(), ", "))
}

// memberIDs returns the saved member IDs in order.
func (c *config) memberIDs() []string {
	ids := make([]string, 0, len(c.Members))
	for id := range c.Members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// store reads and writes the sessions file in dir.
type store struct {
	dir  string
	warn io.Writer // where a warning about loose permissions goes
}

func (s *store) path() string { return filepath.Join(s.dir, sessionsFile) }

// load reads the saved sessions; a missing file means none.
func (s *store) load() (*config, error) {
	cfg := &config{Members: map[string]*credentials{}}
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read saved sessions: %w", err)
	}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("read saved sessions: %s is damaged (%w); delete it and log in again", s.path(), err)
	}
	if cfg.Members == nil {
		cfg.Members = map[string]*credentials{}
	}
	if runtime.GOOS != "windows" && s.warn != nil {
		if fi, err := os.Stat(s.path()); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(s.warn, "coffer: warning: %s is readable by other users; run 'chmod 600 %s'\n", s.path(), s.path())
		}
	}
	return cfg, nil
}

// save writes cfg atomically: to a temporary file of mode 0600 in the same
// directory (mode 0700), then renamed over the old file, so a crash never
// leaves half a file and the tokens are never readable by others.
func (s *store) save(cfg *config) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	// The directory is the keeper's own; tighten it if it was made wider.
	if runtime.GOOS != "windows" {
		if err := os.Chmod(s.dir, 0o700); err != nil {
			return fmt.Errorf("save session: %w", err)
		}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".sessions-*.json")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}
