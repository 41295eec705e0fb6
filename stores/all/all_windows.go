package all

import _ "github.com/anchorwatch/anchorwatch/stores/windows" // LocalMachine ROOT and CA through crypt32
