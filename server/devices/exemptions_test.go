package devices

import (
	"context"
	"errors"
	"testing"
)

// TestExemptionErrorsAreTyped: a malformed exemption is a
// *ValidationError (the caller's mistake; TestExemptionValidation checks
// AddExemption's); a storage failure is not, so the API answers 400 for
// one and 500 for the other without reading message text.
func TestExemptionErrorsAreTyped(t *testing.T) {
	st, d := openTest(t)
	ctx := context.Background()
	var ve *ValidationError
	if _, err := d.RemoveExemption(ctx, "vlan", "7"); !errors.As(err, &ve) {
		t.Errorf("RemoveExemption(vlan) = %v, want a *ValidationError", err)
	}
	st.DB().Close() // the database goes away: a storage failure
	_, err := d.AddExemption(ctx, Exemption{Kind: ExemptMAC, Value: "00:11:22:33:44:55", Reason: "server"})
	if err == nil || errors.As(err, &ve) {
		t.Errorf("AddExemption on a closed database = %v, want a non-validation error", err)
	}
	if _, err := d.RemoveExemption(ctx, ExemptMAC, "00:11:22:33:44:55"); err == nil || errors.As(err, &ve) {
		t.Errorf("RemoveExemption on a closed database = %v, want a non-validation error", err)
	}
}
