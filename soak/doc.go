// Package soak runs the bridge binary under the faults a real replica sees
// and checks afterwards that it kept its promise: every transition the
// simulator committed is in the journal exactly once, outside recorded
// gaps, and every window inside coverage answers "journal".
//
// While the simulator commits transitions at a steady rate, a chaos driver
// injects, one after another at random times drawn from a recorded seed:
//
//   - sigkill: SIGKILL of the bridge, then a restart on the same journal;
//   - sigstop: SIGSTOP of the bridge for longer than three heartbeats
//     (the silent-connection limit), then SIGCONT;
//   - replica-restart: a clean stop and start of the replica (the
//     simulator is paused around it, so the ground truth stays exact);
//   - kill-connection: KILL of the bridge's replication connection, found
//     in information_schema.PROCESSLIST as a 'Binlog Dump' thread;
//   - flush-binary-logs: FLUSH BINARY LOGS, a binlog rotation;
//   - disk-full: the journal's own small filesystem (a size-limited tmpfs)
//     is filled with a filler file, then freed again.
//
// The replica is a throwaway MariaDB (package testdb); the bridge connects
// as a password-protected replication user and reads its token from a
// file, and neither secret may ever appear in its output.
//
// Run is driven by TestSoak (SOAK_DURATION, SOAK_SEED) and `make soak`.
package soak
