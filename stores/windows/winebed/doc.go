// Package winebed makes a private Wine prefix in which Go Windows
// programs run, for tests that drive the real Windows build of
// Anchorwatch on Linux (stores/windows, agent/winetest).
//
//	b, err := winebed.New(ctx) // prefix in a temp dir, wineserver running
//	defer b.Close()            // wineserver -k, temp dir removed
//	exe, err := b.Build(ctx, "./cmd/anchorwatch", "anchorwatch.exe")
//	out, err := b.Run(ctx, exe, "version")
//	tests, err := b.BuildTest(ctx, "./cmd/anchorwatch", "cmd.test.exe") // GOOS=windows go test -c
//
// New runs scripts/wine-setup.sh (wineboot -i, and bcryptprimitives.dll
// built with mingw-w64 so that Go's ProcessPrng import resolves under Wine
// 8), starts a persistent wineserver and the prefix's services. It needs
// the Debian packages wine64 and gcc-mingw-w64-x86-64-win32, and fails
// with an error naming them when they are missing. It is test support:
// nothing in the shipped binary imports it.
package winebed
