// Package soak runs the bridge binary under the faults a real replica sees
// and checks that it kept its promise: during the faults, every /events
// answer that says journal equals the ground truth for its window, and
// every fault has its own answers that say journal to judge; and
// afterwards every transition the simulator committed is in the journal
// exactly once, outside recorded gaps, and every window inside coverage
// answers "journal".
//
// The topology is production's: a primary, a replica of it (GTID
// replication, log_slave_updates; package testdb), the simulator writing on
// the primary and the bridge following the replica. A share of the
// simulator's steps are made in transactions of other shapes (a ROLLBACK
// TO SAVEPOINT undoing a change, a two-phase or one-phase XA COMMIT, a
// prepared XA ROLLBACK; sim.Options.Transactions): what was rolled back is
// never in the truth. While the simulator
// commits transitions at a steady rate and two clients ask /events for
// old and recent windows (bridgetest.Asker), a chaos driver injects, one
// after another at random times drawn from a recorded seed:
//
//   - sigkill: SIGKILL of the bridge, then a restart on the same journal;
//   - sigstop: SIGSTOP of the bridge for longer than three heartbeats
//     (the silent-connection limit), then SIGCONT;
//   - replica-restart: a clean stop and start of the replica;
//   - kill-connection: KILL of the bridge's replication connection, found
//     in information_schema.PROCESSLIST as a 'Binlog Dump' thread;
//   - flush-binary-logs: FLUSH BINARY LOGS on the replica, a rotation;
//   - disk-full: the journal's own small filesystem (a size-limited tmpfs)
//     is filled with a filler file, then freed again;
//   - sql-thread-stopped, io-thread-stopped: STOP SLAVE SQL_THREAD or
//     IO_THREAD on the replica for a few seconds, then START SLAVE;
//   - replication-broken: the replica's SQL thread stops on a duplicate key
//     (testdb.Replica.Break), then is repaired;
//   - primary-restart: a clean stop and start of the primary (the
//     simulator is paused around it, so the ground truth stays exact);
//   - overlapping: a replication thread stopped and, while the replica
//     lags, a SIGKILL of the bridge or a restart of the replica;
//   - replica-local-writes: a local database, table and row, FLUSH
//     PRIVILEGES and ANALYZE TABLE committed on the replica itself, half
//     the time while its SQL thread is stopped (they must move no
//     coverage);
//   - commented-alter: an ALTER after a comment, or as an executable
//     comment, on the primary swapping site_status and monitor_active (a
//     layout boundary no table map shows).
//
// One fault in four also strikes while the bridge is still recovering from
// the previous one. The bridge connects as a password-protected
// replication user and reads its token from a file, and neither secret may
// ever appear in its output.
//
// Run is driven by TestSoak (SOAK_DURATION, SOAK_SEED) and `make soak`.
package soak
