package safefs

// canBecomeUser is false on Windows: a write inside a user's profile is
// left to that user (run anchorwatch as them), never done by an elevated
// process that a junction planted in the profile could redirect.
func canBecomeUser() bool { return false }

func becomeUser(uid, gid int) (func(), error) { return nil, ErrUserTree }
