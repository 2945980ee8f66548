// Package supervisor keeps the bridge's long-running services in operation
// and reports on them the way Thunder's Monitor plugin does (docs/monitor.md).
//
// A Supervisor runs every added Service, restarts one that fails after an
// exponential back-off, and leaves it stopped once it has failed more often
// than its restart Limits allow. Every state change is logged and published
// as a Notification (Activate, Deactivate, StoppedRestarting) to whoever
// subscribed. At a fixed interval the Supervisor samples the bridge process's
// memory from /proc/self/statm into per-service Measurements, which Status
// and ResetStats report as Thunder Monitor entries.
//
// The package knows nothing about JSON-RPC: package server exposes a
// Supervisor through the Monitor interface.
package supervisor
