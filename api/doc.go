// Package api holds the JSON wire types shared by the agent and the
// collector: enrollment, reports, drift events and errors. Both sides
// import it, so the contract lives in one place.
package api
