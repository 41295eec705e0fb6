// Package hostile makes the local attacker of the security tests: a real,
// unprivileged account created with useradd for one test (removed with
// userdel -r after it), and the traps such a user can plant in what they
// own — symbolic and hard links, FIFOs, huge sparse files, directories
// they lock themselves out of — each planted by a process running as
// that user, so a test proves the user really can do it. Nothing in the
// product imports it.
//
//	u := hostile.NewUser(t)
//	u.Give(t, filepath.Join(root, "home/alice"), os.TempDir()) // chown the tree, open the way to it
//	u.Run(t, "mkfifo", filepath.Join(db, "cert9.db"))          // as the user
//
// Creating users needs root; the tests that use it say so when not root.
package hostile
