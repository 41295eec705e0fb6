// Package inventory classifies every trust anchor found on a host.
//
// Classify takes what each store holds (stores.Store.List) and sorts every
// distinct certificate into one of four classes:
//
//   - blocked: on the blocklist of known-bad roots (policy.Blocklist),
//     matched by certificate SHA-256 or SPKI hash;
//   - managed: one of ours: in the caller's managed set (the --ca
//     certificates or the policy's anchors) or written by Anchorwatch
//     (its label starts with stores.LabelPrefix);
//   - vendor: shipped by the OS, JDK or NSS bundle (an adapter set
//     Anchor.Vendor in at least one store);
//   - unknown: anything else, the Superfish class of problem.
//
// The first that applies wins, in that order: a blocked root is reported
// as blocked even when a vendor bundle or the managed set contains it.
// The same certificate in several stores is one Entry listing every store.
// Class is also the word on the wire: the agent reports unknown and blocked
// roots to the collector as api.Root with their Class.
package inventory
