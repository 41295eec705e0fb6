// Package api holds the JSON wire types shared by the agent and the
// collector: enrollment, reports, drift events and errors. Both sides
// import it, so the contract lives in one place.
//
// The words the protocol carries are typed constants, never string
// literals: event types (EventType; the collector stores any well-formed
// type, so an agent newer than it may send one not listed here), host
// statuses (HostStatus) and device statuses (DeviceStatus). The
// vocabulary of the trust stores is typed where it is made and carried
// as is: a store's status and kind are stores.Status and stores.Kind, a
// root's class inventory.Class. vocab_test.go holds the JSON of each, so
// the wire cannot move unnoticed.
package api
