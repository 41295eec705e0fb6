package devices

// For the external tests (postgres_test.go), which may import servertest:
// servertest imports the collector, which imports this package.
var (
	OpenURL        = openURL
	TestMatchingOn = testMatching
)
