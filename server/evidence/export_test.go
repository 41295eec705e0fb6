package evidence

// Summary is summary for the external test package.
var Summary = summary
