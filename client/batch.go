package client

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Results of one transfer in a batch (BatchResult.Result).
const (
	BatchApplied  = "applied"  // made now
	BatchReplayed = "replayed" // made earlier with this transfer ID; not paid again
	BatchRefused  = "refused"  // not made; Code and Detail say why
)

// BatchTransfer is one transfer of a mass payment.
type BatchTransfer struct {
	TransferID  string `json:"transfer_id"`
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	Description string `json:"description,omitempty"`
}

// BatchResult is the outcome of one transfer of a batch, in the order
// they were sent. Code "not_applied" marks a transfer of an all-or-nothing
// batch left out because another was refused.
type BatchResult struct {
	TransferID string    `json:"transfer_id"`
	Result     string    `json:"result"`
	Code       string    `json:"code,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Transfer   *Transfer `json:"transfer,omitempty"`
}

// BatchResponse is the answer to a mass payment. Applied counts the
// transfers applied now or earlier (replayed), Refused the others.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
	Applied int           `json:"applied"`
	Refused int           `json:"refused"`
}

// CheckBatch reports the first problem the server would find in a batch
// without asking it: a count outside 1 to MaxBatchTransfers, a missing or
// invalid transfer ID, a transfer ID used twice, or a missing purse or
// amount.
func CheckBatch(transfers []BatchTransfer) error {
	if len(transfers) == 0 || len(transfers) > MaxBatchTransfers {
		return fmt.Errorf("a batch has 1 to %d transfers, not %d", MaxBatchTransfers, len(transfers))
	}
	seen := make(map[string]int, len(transfers))
	for i, t := range transfers {
		n := i + 1
		switch {
		case !ValidTransferID(t.TransferID):
			return fmt.Errorf("transfer %d: %w", n, ErrInvalidTransferID)
		case seen[t.TransferID] != 0:
			return fmt.Errorf("transfer %d: transfer ID %s is also that of transfer %d", n, t.TransferID, seen[t.TransferID])
		case t.From == "" || t.To == "":
			return fmt.Errorf("transfer %d (%s): from and to purses are required", n, t.TransferID)
		case !ValidAmount(t.Amount):
			return fmt.Errorf("transfer %d (%s): amount %q is not a positive decimal such as 12.50", n, t.TransferID, t.Amount)
		}
		seen[t.TransferID] = n
	}
	return nil
}

// SendBatch makes up to MaxBatchTransfers transfers in one request. With
// allOrNothing, either all are applied or none (the others are refused
// with code "not_applied"). Every transfer needs its own transfer ID: the
// server applies each at most once, so SendBatch retries the whole request
// like Send, and a transfer made by an earlier attempt comes back as
// BatchReplayed. A refusal of single transfers is not an error; read the
// results. Errors are *SendError naming the first transfer ID.
// Codes: confirmation_required (the member's confirmation policy would ask
// for a code: sign batch requests with a key file), invalid_request,
// unauthorized.
func (c *Client) SendBatch(ctx context.Context, transfers []BatchTransfer, allOrNothing bool) (*BatchResponse, error) {
	if err := CheckBatch(transfers); err != nil {
		id := ""
		if len(transfers) > 0 {
			id = transfers[0].TransferID
		}
		return nil, &SendError{TransferID: id, Err: err}
	}
	body := struct {
		Transfers    []BatchTransfer `json:"transfers"`
		AllOrNothing bool            `json:"all_or_nothing,omitempty"`
	}{transfers, allOrNothing}
	first := transfers[0].TransferID
	return retrying(c, ctx, first, func(int) (*BatchResponse, error) {
		var out BatchResponse
		if _, err := c.do(ctx, http.MethodPost, "/v1/transfers/batch", nil, body, &out); err != nil {
			return nil, fmt.Errorf("batch of %d transfers: %w", len(transfers), err)
		}
		if len(out.Results) != len(transfers) {
			return nil, fmt.Errorf("batch of %d transfers: the server answered with %d results", len(transfers), len(out.Results))
		}
		return &out, nil
	})
}

// batchColumns are the columns of a batch file, in order.
var batchColumns = []string{"transfer_id", "from", "to", "amount", "description"}

// ParseBatchCSV reads a batch file: CSV (RFC 4180, comma-separated) with
// the columns transfer_id, from, to, amount and description, one transfer
// per row. A first row naming the columns is a header and is skipped; the
// description column may be left out. Blank lines are skipped. Every row
// needs its own transfer ID, so that sending the file again never pays
// twice. Errors name the line.
func ParseBatchCSV(r io.Reader) ([]BatchTransfer, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []BatchTransfer
	seen := map[string]int{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("batch file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\uFEFF") // a spreadsheet's byte order mark
			if strings.EqualFold(rec[0], batchColumns[0]) {
				for i, name := range rec {
					if i >= len(batchColumns) || !strings.EqualFold(name, batchColumns[i]) {
						return nil, fmt.Errorf("batch file: line %d: the header must be %s", line, strings.Join(batchColumns, ","))
					}
				}
				continue
			}
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		if len(rec) < 4 || len(rec) > 5 {
			return nil, fmt.Errorf("batch file: line %d: want %d or %d columns (%s), not %d", line, 4, 5, strings.Join(batchColumns, ","), len(rec))
		}
		t := BatchTransfer{TransferID: rec[0], From: rec[1], To: rec[2], Amount: rec[3]}
		if len(rec) == 5 {
			t.Description = rec[4]
		}
		switch {
		case t.TransferID == "":
			return nil, fmt.Errorf("batch file: line %d: the transfer_id is empty: give every row its own ID, so that sending the file again never pays twice", line)
		case !ValidTransferID(t.TransferID):
			return nil, fmt.Errorf("batch file: line %d: transfer_id %q: %w", line, t.TransferID, ErrInvalidTransferID)
		case seen[t.TransferID] != 0:
			return nil, fmt.Errorf("batch file: line %d: transfer_id %s is already used on line %d", line, t.TransferID, seen[t.TransferID])
		case t.From == "" || t.To == "":
			return nil, fmt.Errorf("batch file: line %d: the from and to purses are required", line)
		case !ValidAmount(t.Amount):
			return nil, fmt.Errorf("batch file: line %d: amount %q is not a positive decimal such as 12.50", line, t.Amount)
		case decimalComma(t.Amount, t.Description):
			return nil, fmt.Errorf("batch file: line %d: amount %q followed by description %q looks like a decimal comma: write %s.%s", line, t.Amount, t.Description, t.Amount, t.Description)
		}
		seen[t.TransferID] = line
		out = append(out, t)
		if len(out) > MaxBatchTransfers {
			return nil, fmt.Errorf("batch file: more than %d transfers; split it", MaxBatchTransfers)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("batch file: no transfers in it")
	}
	return out, nil
}

// decimalComma reports whether an amount without a point followed by a
// description of one to three digits is likely "12,50" split by the comma.
func decimalComma(amount, desc string) bool {
	if strings.Contains(amount, ".") || len(desc) < 1 || len(desc) > 3 {
		return false
	}
	for i := 0; i < len(desc); i++ {
		if desc[i] < '0' || desc[i] > '9' {
			return false
		}
	}
	return true
}
