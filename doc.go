// Package bridge holds the domain types of jetmon-bridge: the status values
// Jetmon 1 writes, the status-transition events the bridge serves, the
// monitors it looks up, and how a window of history is covered.
//
// Subpackages do the work: binlog follows the replica, journal stores what it
// saw, store queries MySQL, server answers HTTP and JSON-RPC, and nats
// publishes the journal to a NATS JetStream stream and restores one from it.
package bridge
