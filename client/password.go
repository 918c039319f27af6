package client

import (
	"context"
	"fmt"
	"net/http"
)

// ChangePassword replaces the member's password; the current one must be
// given. Only a session may do it: a signed or certificate request is
// refused. Every other session of the member ends; this client's session
// stays open. Codes: unauthorized (the current password is wrong, or the
// session ended), rate_limited (too many wrong passwords), weak_password
// (too weak, or the same as now), forbidden (not a session).
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	body := map[string]string{"current_password": current, "new_password": next}
	if _, err := c.do(ctx, http.MethodPut, "/v1/security/password", nil, body, nil); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}
