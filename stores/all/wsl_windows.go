package all

import _ "github.com/anchorwatch/anchorwatch/stores/wsl" // WSL distributions' system stores
