package all

// Application stores, every platform (docs/app-stores.md).
import (
	_ "github.com/anchorwatch/anchorwatch/stores/bundle"    // PEM bundles programs ship, found by content
	_ "github.com/anchorwatch/anchorwatch/stores/cloud"     // AWS CLI and gcloud
	_ "github.com/anchorwatch/anchorwatch/stores/container" // Docker, containerd, podman certs.d
	_ "github.com/anchorwatch/anchorwatch/stores/git"       // Git's http.sslCAInfo, Git for Windows
	_ "github.com/anchorwatch/anchorwatch/stores/node"      // NODE_EXTRA_CA_CERTS, npm cafile
	_ "github.com/anchorwatch/anchorwatch/stores/python"    // certifi, pip, conda
)
