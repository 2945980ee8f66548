package testdb

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestServerIsThrowawayAndBinlogged(t *testing.T) {
	db := NewDB(t)
	if db.Server.Port == 3306 {
		t.Fatal("harness must never use the machine's server on 3306")
	}
	var logBin int
	var format string
	if err := db.SQL.QueryRow("SELECT @@log_bin, @@binlog_format").Scan(&logBin, &format); err != nil {
		t.Fatal(err)
	}
	if logBin != 1 || format != "ROW" {
		t.Fatalf("log_bin=%d binlog_format=%s, want 1 ROW", logBin, format)
	}
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://a.example')")
	var n int
	db.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n)
	if n != 1 {
		t.Fatalf("rows = %d, want 1", n)
	}
}

func TestRestartKeepsData(t *testing.T) {
	s := Dedicated(t, Options{ServerID: 9})
	db := NewDBOn(t, s)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (7, 0, 'https://b.example')")
	s.Stop()
	if err := s.Exec("SELECT 1"); err == nil {
		t.Fatal("stopped server still answers")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	var blog int
	if err := db.SQL.QueryRow("SELECT blog_id FROM jetpack_monitor_sites").Scan(&blog); err != nil || blog != 7 {
		t.Fatalf("blog=%d err=%v", blog, err)
	}
}
