// Package binlog follows a Jetmon 1 replica's binary log and feeds the
// journal with every change to jetpack_monitor_sites.
//
// It is built on go-mysql's low-level replication.BinlogSyncer rather than
// canal. Canal owns positions, retries and schema tracking for every table,
// and hands rows to a handler one event at a time; the bridge needs the
// opposite on each point: it resumes only from the journal's checkpoint (so a
// retry can never skip or repeat a transaction), it decodes one table, and it
// must see transaction boundaries to commit a whole transaction and its
// checkpoint together, grouping many while catching up. The syncer's own
// reconnects are therefore disabled: a broken stream ends Follower.Run, and
// the supervisor starts it again from the checkpoint.
package binlog
