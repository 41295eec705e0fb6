package appstore

func readHint(hp string, max int64) ([]byte, error) { return readHintFast(hp, max) }
