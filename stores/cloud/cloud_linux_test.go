package cloud_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/cloud"
	"github.com/anchorwatch/anchorwatch/stores/internal/apptest"
)

func discover(t *testing.T, root string) map[string]stores.Store {
	t.Helper()
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindCloud})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m := map[string]stores.Store{}
	for _, s := range ss {
		m[s.Info().ID] = s
	}
	return m
}

func cycle(t *testing.T, s stores.Store, ca *testpki.CA, client func(stage string, wantOK bool)) {
	t.Helper()
	ctx := context.Background()
	client("before install", false)
	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	client("after install", true)
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	client("after remove", false)
}

// awsTLS runs the real AWS CLI (v1 here: botocore, the same HTTPS code
// as v2) against the TLS server with the bundle, and reports whether TLS
// verification passed (the server is no S3, so the command fails after
// the handshake either way: only an SSL error counts as a TLS failure).
func awsTLS(t *testing.T, bundle, url string) bool {
	t.Helper()
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI is needed (pip install awscli)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, aws, "s3", "ls", "--endpoint-url", url)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=example", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CA_BUNDLE="+bundle, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
	out, _ := cmd.CombinedOutput()
	tlsFailed := strings.Contains(string(out), "SSL validation failed") || strings.Contains(string(out), "CERTIFICATE_VERIFY_FAILED")
	t.Logf("aws: %s", strings.TrimSpace(string(out)))
	return !tlsFailed
}

// TestAWSCABundle: AWS_CA_BUNDLE in /etc/environment names a bundle; the
// real aws CLI with that bundle verifies the server only after install.
func TestAWSCABundle(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	write(t, filepath.Join(root, "etc/environment"), "AWS_CA_BUNDLE=/opt/corp/aws.pem\n")
	write(t, filepath.Join(root, "opt/corp/aws.pem"), string(apptest.SystemBundle(t)))
	s := discover(t, root)["cloud:/opt/corp/aws.pem"]
	if s == nil || s.Info().Format != cloud.FormatConfigured || !strings.Contains(s.Info().App, "aws sso login ignores it") {
		t.Fatalf("store: %v", s)
	}
	cycle(t, s, ca, func(stage string, wantOK bool) {
		if got := awsTLS(t, filepath.Join(root, "opt/corp/aws.pem"), url); got != wantOK {
			t.Errorf("%s: aws TLS ok=%v, want %v", stage, got, wantOK)
		}
	})
}

// TestAWSCLIv2Bundle: AWS CLI v2's own botocore/cacert.pem (the one aws
// sso login uses) in its Linux layout is a store.
func TestAWSCLIv2Bundle(t *testing.T) {
	root := apptest.Root(t)
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	p := "/usr/local/aws-cli/v2/2.27.0/dist/awscli/botocore/cacert.pem"
	write(t, filepath.Join(root, p), string(apptest.SystemBundle(t)))
	os.Symlink("2.27.0", filepath.Join(root, "usr/local/aws-cli/v2/current"))
	found := discover(t, root)
	s := found["cloud:"+p]
	if s == nil || len(found) != 1 || s.Info().Format != cloud.FormatAWSCLI {
		t.Fatalf("stores: %v", found)
	}
	cycle(t, s, ca, func(stage string, wantOK bool) {
		if got := awsTLS(t, filepath.Join(root, p), url); got != wantOK {
			t.Errorf("%s: aws TLS ok=%v, want %v", stage, got, wantOK)
		}
	})
}

// TestAWSConfigAndGcloud: a user's ~/.aws/config ca_bundle and gcloud's
// custom_ca_certs_file (user configuration and installation properties)
// are stores; the SDK's vendored certifi is one only while no
// installation-wide custom_ca_certs_file is set. The bundles are checked
// with Python requests' verify=, which is how botocore and gcloud's
// requests transport load them (gcloud needs credentials to reach an
// endpoint, so it is not run).
func TestAWSConfigAndGcloud(t *testing.T) {
	root := apptest.Root(t)
	u := apptest.NewUser(t, filepath.Join(root, "home"))
	ca := testpki.NewCA(t, "Corp Interception CA")
	url := apptest.HTTPS(t, ca)
	sys := apptest.SystemBundle(t)
	u.WriteFile(t, filepath.Join(u.Home, "aws.pem"), sys)
	u.WriteFile(t, filepath.Join(u.Home, ".aws/config"), []byte("[default]\nregion = eu-west-1\n[profile corp]\nca_bundle = ~/aws.pem\n"))
	u.WriteFile(t, filepath.Join(u.Home, "gcloud.pem"), sys)
	u.WriteFile(t, filepath.Join(u.Home, ".config/gcloud/configurations/config_default"), []byte("[core]\ncustom_ca_certs_file = "+filepath.Join("/home", u.Name, "gcloud.pem")+"\n"))
	sdk := filepath.Join(root, "usr/lib/google-cloud-sdk")
	write(t, filepath.Join(sdk, "properties"), "[core]\ndisable_usage_reporting = True\n")
	write(t, filepath.Join(sdk, "lib/third_party/certifi/cacert.pem"), string(sys))
	found := discover(t, root)
	home := filepath.Join("/home", u.Name)
	for _, id := range []string{"cloud:" + home + "/aws.pem", "cloud:" + home + "/gcloud.pem", "cloud:/usr/lib/google-cloud-sdk/lib/third_party/certifi/cacert.pem"} {
		s := found[id]
		if s == nil {
			t.Fatalf("no %s among %v", id, found)
		}
		cycle(t, s, ca, func(stage string, wantOK bool) {
			out, err := exec.Command("/usr/bin/python3", "-c", "import requests,sys; requests.get(sys.argv[1], verify=sys.argv[2], timeout=10)",
				url, filepath.Join(root, s.Info().Path)).CombinedOutput()
			if (err == nil) != wantOK {
				t.Errorf("%s %s: ok=%v, want %v: %s", id, stage, err == nil, wantOK, out)
			}
		})
	}
	write(t, filepath.Join(sdk, "properties"), "[core]\ncustom_ca_certs_file = /etc/corp/gcloud.pem\n")
	write(t, filepath.Join(root, "etc/corp/gcloud.pem"), string(sys))
	found = discover(t, root)
	if found["cloud:/usr/lib/google-cloud-sdk/lib/third_party/certifi/cacert.pem"] != nil || found["cloud:/etc/corp/gcloud.pem"] == nil {
		t.Errorf("with an installation-wide custom_ca_certs_file: %v", found)
	}
}

func write(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
