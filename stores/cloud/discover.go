package cloud

import (
	"context"
	"os"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Store formats.
const (
	FormatConfigured = "configured-bundle"
	FormatAWSCLI     = "aws-cli-bundle"
	FormatGcloud     = "gcloud-bundle"
)

// Where the CLIs install.
var (
	awsCLIDirs       = []string{"/usr/local/aws-cli", "/opt/aws-cli", "/Program Files/Amazon/AWSCLIV2", "/aws-cli"}
	gcloudSystemDirs = []string{"/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk",
		"/opt/google-cloud-cli", "/snap/google-cloud-cli/current", "/Program Files (x86)/Google/Cloud SDK/google-cloud-sdk",
		"/Program Files/Google/Cloud SDK/google-cloud-sdk"}
	gcloudHomeDirs = []string{"google-cloud-sdk", "AppData/Local/Google/Cloud SDK/google-cloud-sdk"}
)

// Discover returns the bundles the AWS CLI and gcloud are configured with
// and their own bundles.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	cache := pembundle.NewCache()
	var refs []appstore.Ref
	for _, v := range appstore.SystemEnv(ctx, env) {
		if strings.EqualFold(v.Name, "AWS_CA_BUNDLE") {
			if p, ok := appstore.ConfigPath(v.Value, ""); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "AWS_CA_BUNDLE in " + v.Source + " (aws sso login ignores it)"})
			}
		}
	}
	homes := appstore.Homes(ctx, env.Root)
	for _, h := range homes {
		refs = append(refs, iniRefs(ctx, env.Root, path.Join(h.Path, ".aws/config"), h.Path, "", "ca_bundle", "aws ca_bundle")...)
		refs = append(refs, gcloudUserRefs(ctx, env.Root, h.Path)...)
	}
	var sdks []string
	for _, d := range gcloudSystemDirs {
		sdks = append(sdks, d)
	}
	for _, h := range homes {
		for _, d := range gcloudHomeDirs {
			sdks = append(sdks, path.Join(h.Path, d))
		}
	}
	out := []stores.Store{}
	for _, sdk := range sdks {
		if !isDir(env.Root, sdk) {
			continue
		}
		r := iniRefs(ctx, env.Root, path.Join(sdk, "properties"), "", "core", "custom_ca_certs_file", "gcloud core/custom_ca_certs_file")
		refs = append(refs, r...)
		if p := path.Join(sdk, "lib/third_party/certifi/cacert.pem"); len(r) == 0 && isFile(env.Root, p) {
			out = append(out, appstore.NewFile(env, users, appstore.FileConfig{Kind: stores.KindCloud, Path: p,
				Format: FormatGcloud, App: "gcloud (" + sdk + ")", VendorHeaders: true, Cache: cache}))
		}
	}
	for _, p := range awsBundles(env.Root) {
		out = append(out, appstore.NewFile(env, users, appstore.FileConfig{Kind: stores.KindCloud, Path: p,
			Format: FormatAWSCLI, App: "AWS CLI v2 (aws sso login, aws configure sso, and everything without AWS_CA_BUNDLE)", VendorHeaders: true, Cache: cache}))
	}
	out = append(out, appstore.RefStores(env, users, stores.KindCloud, FormatConfigured, refs, cache)...)
	return out, ctx.Err()
}

// iniRefs reads key in section ("" = any section) of an INI file.
func iniRefs(ctx context.Context, root, conf, home, section, key, what string) []appstore.Ref {
	data, actor, err := appstore.ReadConfig(ctx, root, conf)
	if err != nil {
		return nil
	}
	var refs []appstore.Ref
	for _, s := range appstore.ParseINI(data) {
		if s.Key != key || section != "" && s.Section != section {
			continue
		}
		if p, ok := appstore.ConfigPath(s.Value, home); ok {
			via := what + " in " + conf
			if s.Section != "" && section == "" {
				via = what + " [" + strings.TrimSpace(s.Section+" "+s.Sub) + "] in " + conf
			}
			refs = append(refs, appstore.Ref{Path: p, Via: via, Actor: actor})
		}
	}
	return refs
}

// gcloudUserRefs reads custom_ca_certs_file from a user's gcloud
// properties and every named configuration.
func gcloudUserRefs(ctx context.Context, root, home string) []appstore.Ref {
	dir := path.Join(home, ".config/gcloud")
	refs := iniRefs(ctx, root, path.Join(dir, "properties"), home, "core", "custom_ca_certs_file", "gcloud core/custom_ca_certs_file")
	ents, _ := os.ReadDir(hostPath(root, path.Join(dir, "configurations")))
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "config_") {
			refs = append(refs, iniRefs(ctx, root, path.Join(dir, "configurations", e.Name()), home, "core", "custom_ca_certs_file", "gcloud core/custom_ca_certs_file")...)
		}
	}
	return refs
}

// awsBundles finds botocore/cacert.pem in AWS CLI v2 installs: the
// versioned directories of /usr/local/aws-cli/v2, or the install itself
// (Windows, macOS pkg), a few levels down at most.
func awsBundles(root string) []string {
	var out []string
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 5 {
			return
		}
		if p := path.Join(dir, "botocore/cacert.pem"); isFile(root, p) {
			out = append(out, p)
			return
		}
		ents, _ := os.ReadDir(hostPath(root, dir))
		for _, e := range ents {
			if e.IsDir() && e.Type()&os.ModeSymlink == 0 && e.Name() != "botocore" && !strings.HasPrefix(e.Name(), ".") {
				walk(path.Join(dir, e.Name()), depth+1)
			}
		}
	}
	for _, d := range awsCLIDirs {
		walk(d, 0)
	}
	return out
}

func isDir(root, p string) bool {
	fi, err := os.Lstat(hostPath(root, p))
	return err == nil && fi.IsDir()
}

func isFile(root, p string) bool {
	fi, err := os.Lstat(hostPath(root, p))
	return err == nil && fi.Mode().IsRegular()
}

func hostPath(root, p string) string { return fsroot.HostPath(root, p) }
