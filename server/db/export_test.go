package db

// IsUniqueViolation exposes isUniqueViolation to the external tests,
// which run on both dialects.
var IsUniqueViolation = isUniqueViolation
