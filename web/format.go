package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/coffer-money/coffer"
)

// formatAmount renders minor units with the currency's decimals and thin
// grouping of thousands: 1234567 with 2 decimals is "12,345.67".
func formatAmount(v int64, decimals int) string {
	s := coffer.FormatAmount(v, decimals)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "−", s[1:] // a real minus sign reads better than a hyphen
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// formatTime shows a time in the member's zone.
func formatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// qrSVG draws text as a QR code in inline SVG (one path, no style
// attributes, so the strict Content-Security-Policy allows it).
func qrSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("web: qr code: %w", err)
	}
	b := code.Bounds()
	n := b.Dx()
	const quiet = 4
	var d strings.Builder
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if r, _, _, _ := code.At(b.Min.X+x, b.Min.Y+y).RGBA(); r != 0 {
				continue
			}
			fmt.Fprintf(&d, "M%d %dh1v1h-1z", x+quiet, y+quiet)
		}
	}
	size := n + 2*quiet
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="232" height="232" role="img" aria-label="QR code of the code generator setup" shape-rendering="crispEdges">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`, size, size, size, size, d.String())
	return template.HTML(svg), nil
}
