package all

import _ "github.com/anchorwatch/anchorwatch/stores/macos" // System keychain and admin trust settings
