package all

import _ "github.com/anchorwatch/anchorwatch/stores/firefox" // Firefox enterprise policies, every platform
