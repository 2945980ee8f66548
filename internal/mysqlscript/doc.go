// Package mysqlscript runs a scripted MySQL 8 server for tests: the
// MySQL paths of the bridge tested against a peer that speaks MySQL's
// protocol and writes MySQL's binlog, where no MySQL server can be
// installed (docs/development.md, "The scripted MySQL server").
//
// It listens on loopback and answers what the bridge sends a MySQL 8
// replica: go-sql-driver's handshake (mysql_native_password, or
// caching_sha2_password with Options.CachingSHA2) and queries (text and
// prepared), and go-mysql's BinlogSyncer (its SET statements, SHOW GLOBAL
// VARIABLES LIKE 'BINLOG_CHECKSUM', COM_REGISTER_SLAVE, COM_BINLOG_DUMP and
// COM_BINLOG_DUMP_GTID). The handshake and the command loop are go-mysql's
// server package; the binlog events are this package's own encoding of
// MySQL's formats (events.go, table.go), checked by decoding them with
// go-mysql's parser (events_test.go).
//
// # The binlog a test writes
//
// The server keeps a binlog of files, each starting with a format
// description and the previous GTIDs, and a test appends to it with a
// small builder. A transaction is written whole by the call that ends it:
//
//	s := mysqlscript.Start(t, mysqlscript.Options{})
//	sites := s.Sites() // jetpack_monitor_sites in Options.Database
//	before := mysqlscript.SiteRow(bridge.Monitor{SiteID: 1, BlogID: 11, URL: "https://a.example", Active: true, Status: 1})
//	after := slices.Clone(before)
//	after[5], after[6] = uint8(0), time.Unix(1700000000, 0) // site_status, last_status_change
//	s.GTID(source, 6).Begin().Update(sites, before, after).Commit()
//	s.DDL("ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)")
//	s.XAStart(mysqlscript.XA("x1")).Insert(sites, row).XAEnd(mysqlscript.XA("x1")).XAPrepare(mysqlscript.XA("x1"))
//	s.XACommit(mysqlscript.XA("x1"))
//	s.Rotate() // FLUSH BINARY LOGS
//
// GTID(uuid, n) names the next transaction's GTID (else the server's own
// next one); Begin, Query (a statement inside the transaction, such as
// SAVEPOINT), Insert, Update, UpdateRows and Delete (a table map and a v2
// rows event each) compose it; Commit (an XID event), XAPrepare,
// XACommitOnePhase and DDL write it; XACommit and XARollback are
// transactions of their own. At(t) stamps the following events with t.
// SetRows seeds rows the binlog never showed (read by a snapshot);
// committed rows events keep the table model current, so SELECTs of the
// Jetmon table answer as the binlog says.
//
// # The stream a dump sees
//
// A dump streams as MySQL's dump thread does: a fake rotate before each
// file, its format description, its events with their checksums, and at
// the binlog's end a heartbeat every @master_heartbeat_period. A GTID dump
// starts at the last file whose previous GTIDs the client has and skips
// the transactions it has, sending a heartbeat before the first event
// after a skip. Two markers shape the stream at a point between
// transactions:
//
//	s.Heartbeat()     // a dump reaching this point sends a heartbeat
//	p := s.Pause()    // a dump stops here until p.Release();
//	<-p.Reached()     // while skipping, it sends a heartbeat every period
//
// s.DropConnections() breaks every connection, as a network failure does.
//
// # Answers a test scripts
//
// The defaults answer as a MySQL 8.4 primary that is not a replica:
// VERSION(), SELECT @@var (server_id, server_uuid, gtid_mode,
// gtid_executed...), SHOW GLOBAL VARIABLES, SHOW GRANTS, SHOW BINARY LOG
// STATUS or SHOW MASTER STATUS (by Options.Version) from the binlog's end,
// SHOW BINARY LOGS and SHOW BINLOG EVENTS from the binlog itself, an empty
// SHOW REPLICA STATUS and empty performance_schema tables,
// information_schema.COLUMNS and SELECTs of the Jetmon table. A test
// changes them with SetVariable, and with Answer, AnswerRows or Refuse for
// any statement matching a regular expression:
//
//	s.AnswerRows(`^SHOW REPLICA STATUS$`, mysqlscript.OneRow(
//		"Replica_IO_Running", "Yes", "Replica_SQL_Running", "Yes", "Seconds_Behind_Source", 0))
//	s.Refuse(`^SHOW BINARY LOG STATUS$`, 1227, "Access denied; you need (at least one of) the REPLICATION CLIENT privilege(s)")
//
// Statements, Count and Changed let a test see what the client sent (a
// dump appears as "COM_BINLOG_DUMP_GTID <set>").
package mysqlscript
