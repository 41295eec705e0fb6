package bundle

// Windows has no O_NOFOLLOW; the head read is a hint only, the content
// that matters is read again through fsroot.ReadBeneath, which refuses links.
const (
	oNoFollow = 0
	oNonBlock = 0
)
