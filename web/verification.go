package web

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/coffer-money/coffer"
	"github.com/coffer-money/coffer/app"
)

// maxUpload bounds the body of the document form: five documents of the
// largest size, and the form around them.
const maxUpload = app.MaxDocumentsPerRequest*app.MaxDocumentBytes + 1<<20

// uploadPaths are the forms that carry files (multipart/form-data); every
// other form is refused in that encoding.
var uploadPaths = []string{"/verification"}

func (s *Server) verificationPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	st, err := s.svc.MyVerification(ctx(r), rq.member)
	if err != nil {
		return err
	}
	p, err := s.svc.Profile(ctx(r), rq.member)
	if err != nil {
		return err
	}
	type reqRow struct {
		ID, State, Level, Reason, Created, Decided string
		Documents                                  int
	}
	type levelRow struct {
		Name, Limit         string
		Merchant, Issuer    bool
		Current, Selectable bool
	}
	data := struct {
		Level       string
		Requests    []reqRow
		Pending     bool
		Levels      []levelRow
		MissingData []string
		MaxDocs     int
	}{Level: st.Status.Level, MaxDocs: app.MaxDocumentsPerRequest}
	for _, v := range st.Requests {
		row := reqRow{ID: v.ID, State: v.State, Level: v.Level, Reason: v.Reason, Created: formatTime(v.CreatedAt, rq.loc),
			Decided: formatTime(v.DecidedAt, rq.loc), Documents: len(v.Documents)}
		data.Pending = data.Pending || v.State == coffer.VerificationPending
		data.Requests = append(data.Requests, row)
	}
	slices.Reverse(data.Requests) // newest first
	levels := s.svc.Levels()
	if levels == nil {
		levels = coffer.DefaultLevels()
	}
	cur := levels.Resolve(st.Status.Level)
	for _, l := range levels.List() {
		row := levelRow{Name: l.Name, Merchant: l.Merchant, Issuer: l.Issuer, Current: l.Name == st.Status.Level,
			Selectable: cur == nil || l.Rank > cur.Rank}
		if l.DailyLimit == nil {
			row.Limit = "no limit"
		} else {
			var parts []string
			for c, v := range l.DailyLimit {
				if c == "*" {
					c = "per currency"
				}
				parts = append(parts, groupDecimal(v)+" "+c)
			}
			slices.Sort(parts)
			row.Limit = strings.Join(parts, ", ") + " a day"
		}
		data.Levels = append(data.Levels, row)
	}
	for _, f := range []string{coffer.FieldFirstName, coffer.FieldLastName, coffer.FieldDateOfBirth} {
		if p.Values[f] == "" {
			data.MissingData = append(data.MissingData, strings.ToLower(fieldLabel(f)))
		}
	}
	return s.render(w, rq, "verification", "Verification", "privacy", data)
}

// groupDecimal groups the thousands of a decimal such as "100000.00".
func groupDecimal(v string) string {
	_, frac, _ := strings.Cut(v, ".")
	n, err := coffer.ParseAmount(v, len(frac))
	if err != nil {
		return v
	}
	return formatAmount(n, len(frac))
}

// submitVerification uploads the documents of the form and submits them
// in one request for review.
func (s *Server) submitVerification(w http.ResponseWriter, r *http.Request, rq *request) error {
	back := func(kind, msg string) error {
		setFlash(w, rq, kind, msg)
		return redirect(w, r, "/verification")
	}
	var files []*multipart.FileHeader
	if r.MultipartForm != nil {
		files = r.MultipartForm.File["document"]
	}
	if len(files) == 0 {
		return back("error", "Choose at least one document: a scan or photo as JPEG, PNG or PDF.")
	}
	if len(files) > app.MaxDocumentsPerRequest {
		return back("error", "Choose at most 5 documents.")
	}
	var ids []string
	for _, fh := range files {
		if fh.Size > app.MaxDocumentBytes {
			return back("error", "A document may be at most 5 MiB: "+fh.Filename+" is larger.")
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		content, err := io.ReadAll(io.LimitReader(f, app.MaxDocumentBytes+1))
		f.Close()
		if err != nil {
			return err
		}
		d, err := s.svc.UploadDocument(ctx(r), rq.member, clientIP(r), content)
		switch coffer.ErrorCode(err) {
		case "":
		case coffer.EINVALID, coffer.ETOOLARGE, coffer.EUPLOADQUOTA, coffer.ERATELIMITED, "unsupported_media_type":
			return back("error", fh.Filename+": "+coffer.ErrorMessage(err))
		default:
			return err
		}
		ids = append(ids, d.ID)
	}
	_, err := s.svc.SubmitVerification(ctx(r), rq.member, app.SubmitInput{Documents: ids, LevelRequested: r.PostForm.Get("level")})
	switch coffer.ErrorCode(err) {
	case "":
		return back("ok", "Your documents were sent. A registrar will review them.")
	case coffer.EINVALID, coffer.ECONFLICT, coffer.ENOTFOUND:
		return back("error", coffer.ErrorMessage(err))
	}
	return err
}

// parseUpload reads a multipart form of an upload path, bounded.
func parseUpload(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	err := r.ParseMultipartForm(8 << 20)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return coffer.Errorf(coffer.ETOOLARGE, "The documents are too large together: at most 5 documents of 5 MiB each.")
	}
	if err != nil {
		return coffer.Errorf(coffer.EINVALID, "The form could not be read. Go back, reload the page and try again.")
	}
	return nil
}
