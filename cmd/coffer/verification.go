package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coffer-money/coffer/client"
)

const verificationHelp = `  verification upload FILE...           upload scans of documents (JPEG, PNG or PDF, at most 5 MiB each)
  verification submit [--documents ID,ID] [--level L]
                                        ask a registrar to check your profile with the documents
                                        (default: the documents uploaded since the last submit)
  verification status                   your level, what it allows, and your requests`

// uploadedFile keeps the IDs of documents uploaded and not yet submitted,
// per member, beside the sessions.
func (a *app) uploadedFile(member string) (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	return filepath.Join(st.dir, "documents-"+member+".json"), nil
}

func (a *app) uploadedDocuments(member string) ([]string, error) {
	path, err := a.uploadedFile(member)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("%s is damaged (%w); name the documents with --documents", path, err)
	}
	return ids, nil
}

func (a *app) saveUploaded(member string, ids []string) error {
	path, err := a.uploadedFile(member)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, _ := json.Marshal(ids)
	return os.WriteFile(path, data, 0o600)
}

func cmdVerification(a *app, args []string) error {
	fs := a.flags("verification")
	docs := fs.String("documents", "", "comma-separated document `IDS` (submit; default: those uploaded since the last submit)")
	level := fs.String("level", "", "the `LEVEL` you ask for (submit; default: the registrar decides)")
	pos, err := a.parse(fs, "verification", args, 1, -1)
	if err != nil {
		return err
	}
	sub, rest := pos[0], pos[1:]
	switch sub {
	case "upload":
		return verificationUpload(a, rest)
	case "submit":
		return verificationSubmit(a, rest, *docs, *level)
	case "status":
		return verificationStatus(a, rest)
	}
	return &usageError{msg: fmt.Sprintf("verification: unknown subcommand %q (upload, submit, status)", sub), cmd: "verification"}
}

func verificationUpload(a *app, files []string) error {
	if len(files) == 0 {
		return &usageError{msg: "verification upload: name at least one FILE", cmd: "verification"}
	}
	contents := make([][]byte, len(files))
	for i, name := range files {
		fi, err := os.Stat(name)
		if err != nil {
			return fmt.Errorf("verification upload: %w", err)
		}
		if fi.Size() > client.MaxDocumentSize {
			return &usageError{msg: fmt.Sprintf("verification upload: %s is larger than 5 MiB", name), cmd: "verification"}
		}
		if contents[i], err = os.ReadFile(name); err != nil {
			return fmt.Errorf("verification upload: %w", err)
		}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	saved, err := a.uploadedDocuments(cr.MemberID)
	if err != nil {
		return err
	}
	var out []*client.Document
	for i, content := range contents {
		d, err := c.UploadDocument(a.ctx, content)
		if err != nil {
			return a.explain(fmt.Errorf("%s: %w", files[i], err), c.BaseURL(), cr.MemberID)
		}
		out = append(out, d)
		saved = append(saved, d.DocumentID)
		if err := a.saveUploaded(cr.MemberID, saved); err != nil {
			return err
		}
	}
	return a.show(out, func() error {
		for i, d := range out {
			fmt.Fprintf(a.stdout, "%s: document %s (%s, %d bytes)\n", files[i], d.DocumentID, d.ContentType, d.Size)
		}
		fmt.Fprintln(a.stdout, "Submit them with: coffer verification submit")
		return nil
	})
}

func verificationSubmit(a *app, rest []string, docs, level string) error {
	if err := onlyArgs("verification submit", rest, 0, ""); err != nil {
		return err
	}
	var ids []string
	for _, id := range strings.Split(docs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	fromSaved := docs == ""
	if fromSaved {
		if ids, err = a.uploadedDocuments(cr.MemberID); err != nil {
			return err
		}
	}
	v, err := c.SubmitVerification(a.ctx, ids, strings.TrimSpace(level))
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if fromSaved {
		if err := a.saveUploaded(cr.MemberID, nil); err != nil {
			return err
		}
	}
	return a.showf(v, "Verification request %s is waiting for a registrar (%d documents).\n", v.RequestID, len(v.Documents))
}

func verificationStatus(a *app, rest []string) error {
	if err := onlyArgs("verification status", rest, 0, ""); err != nil {
		return err
	}
	c, cr, err := a.session()
	if err != nil {
		return err
	}
	st, err := c.VerificationStatus(a.ctx)
	if err != nil {
		return a.explain(err, c.BaseURL(), cr.MemberID)
	}
	if st.Requests == nil {
		st.Requests = []client.Verification{}
	}
	return a.show(st, func() error {
		fmt.Fprintf(a.stdout, "Level: %s\n", st.Level)
		if l := st.Allows; l != nil {
			limits := "none"
			if l.DailyLimit != nil {
				var parts []string
				for cur, v := range l.DailyLimit {
					parts = append(parts, v+" "+cur)
				}
				slices.Sort(parts)
				limits = strings.Join(parts, ", ")
			}
			fmt.Fprintf(a.stdout, "Daily limit: %s; merchant: %s; issuer: %s\n", limits, yesNo(l.Merchant), yesNo(l.Issuer))
		}
		for _, v := range st.Requests {
			fmt.Fprintf(a.stdout, "Request %s: %s", v.RequestID, v.State)
			switch {
			case v.Level != "":
				fmt.Fprintf(a.stdout, " (level %s)", v.Level)
			case v.Reason != "":
				fmt.Fprintf(a.stdout, " (%s)", v.Reason)
			}
			fmt.Fprintln(a.stdout)
		}
		return nil
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
