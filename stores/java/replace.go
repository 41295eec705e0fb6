package java

import "errors"

// errChangedBeforeReplace: the keystore changed between our read and the
// moment we were about to replace it (see releaseForReplace). update reads
// it again in another round.
var errChangedBeforeReplace = errors.New("the keystore changed before it was replaced")
