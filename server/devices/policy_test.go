package devices

import (
	"context"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/policytest"
)

func TestImportPolicy(t *testing.T) {
	_, d := openTest(t)
	ctx := context.Background()
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	// An administrator's exemption of a value the policy also names wins.
	if _, err := d.AddExemption(ctx, Exemption{Kind: ExemptMAC, Value: "00:11:22:33:44:55", Reason: "core switch"}); err != nil {
		t.Fatal(err)
	}
	blob := policytest.WithExemptions(t, 3, []policy.Exemption{
		{Subnets: []string{"10.50.0.0/16"}, Reason: "guest Wi-Fi", Expires: &exp},
		{Hosts: []string{"*.lab.example.com", "printer-1"}, MACs: []string{"00-11-22-33-44-55"}, Groups: []string{"servers"}, Reason: "lab"},
	})
	res, err := d.ImportPolicy(ctx, 3, blob)
	if err != nil {
		t.Fatal(err)
	}
	if res.Exemptions != 3 || res.Skipped != 2 || res.Unchanged {
		t.Errorf("import: %+v, want 3 exemptions and 2 skipped (a group, a MAC an admin holds)", res)
	}
	if again, err := d.ImportPolicy(ctx, 3, blob); err != nil || !again.Unchanged {
		t.Errorf("import of the same serial: %+v %v", again, err)
	}
	got, err := d.Exemptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bySrc := map[string]int{}
	for _, e := range got {
		bySrc[e.Source]++
		if e.Kind == ExemptSubnet && (!e.ExpiresAt.Equal(exp) || e.Reason != "guest Wi-Fi") {
			t.Errorf("subnet exemption: %+v", e)
		}
		if e.Kind == ExemptMAC && (e.Source != SourceAdmin || e.Reason != "core switch") {
			t.Errorf("the admin's MAC exemption was replaced: %+v", e)
		}
	}
	if bySrc[SourcePolicy] != 3 || bySrc[SourceAdmin] != 1 {
		t.Errorf("exemptions by source: %v (%+v)", bySrc, got)
	}
	// The next policy replaces the policy's exemptions, not the admin's.
	res, err = d.ImportPolicy(ctx, 4, policytest.WithExemptions(t, 4, []policy.Exemption{{Subnets: []string{"192.168.9.0/24"}, Reason: "printers"}}))
	if err != nil || res.Exemptions != 1 {
		t.Fatalf("second import: %+v %v", res, err)
	}
	got, _ = d.Exemptions(ctx)
	if len(got) != 2 || got[0].Kind != ExemptMAC || got[1].Value != "192.168.9.0/24" || got[1].Source != SourcePolicy {
		t.Errorf("after the second import: %+v", got)
	}
	if s, err := d.ImportedPolicySerial(ctx); s != 4 || err != nil {
		t.Errorf("imported serial %d %v", s, err)
	}
	// Garbage is an error, and changes nothing.
	for _, bad := range [][]byte{nil, []byte("{}"), []byte("-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n"), blob[:len(blob)/2]} {
		if _, err := d.ImportPolicy(ctx, 5, bad); err == nil {
			t.Errorf("ImportPolicy(%.20q) succeeded", bad)
		}
	}
	if after, _ := d.Exemptions(ctx); len(after) != 2 {
		t.Errorf("a failed import changed the exemptions: %+v", after)
	}
}
