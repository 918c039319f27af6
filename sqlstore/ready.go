package sqlstore

import "context"

// Ready reports whether the store takes writes now, by committing a small
// write of its own (the one row of the probe table). Callers bound how
// often it runs: each call is a commit. Errors: EUNAVAILABLE (busy,
// unreachable, disk full, shut down); any other error is internal.
func (s *Store) Ready(ctx context.Context) error {
	_, err := s.wr.Exec(ctx, `UPDATE probe SET n = n + 1 WHERE id = 1`)
	return s.mapErr("Ready", err)
}
