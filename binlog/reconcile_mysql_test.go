package binlog

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/mysqlscript"
)

// TestReconcileOnMySQL runs the reconcile's MySQL path against the scripted
// MySQL 8 server (no MySQL installs here): MySQL reports no binlog position
// for a consistent snapshot, so the run brackets it between the binlog's
// end read just before and just after, waits for the follower to commit up
// to the later one, agrees on a clean journal, and finds a row the binlog
// never showed.
func TestReconcileOnMySQL(t *testing.T) {
	s := mysqlscript.Start(t, mysqlscript.Options{})
	sites := s.Sites()
	base := time.Unix(1_700_000_000, 0).UTC()
	var rows []mysqlscript.Row
	for i := range 20 {
		rows = append(rows, siteRow(uint64(i+1), uint64(100+i), fmt.Sprintf("https://m%d.example", i), bridge.StatusRunning, base))
	}
	s.GTID(mysqlSource, 1).Begin().Insert(sites, rows...).Commit()
	ok := func(mysqlscript.Query) (*mysqlscript.Rows, error) { return nil, nil }
	s.Answer(`^START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY$`, ok)
	s.Answer(`^ROLLBACK$`, ok)
	s.AnswerRows(`^SHOW SESSION STATUS LIKE 'binlog_snapshot_%'$`, mysqlscript.NoRows("Variable_name", "Value"))

	r := startReconcileRig(t, s.DSN(), ReconcileOptions{})
	ctx := context.Background()
	rep := r.rec.Reconcile(ctx)
	if rep.Outcome != ReconcileAgreed || rep.Rows != 20 || !regexp.MustCompile(`^between binlog\.\d+:\d+ and binlog\.\d+:\d+$`).MatchString(rep.Position) {
		t.Fatalf("clean journal on MySQL: %+v", rep)
	}
	if s.Count(`^START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY$`) != 1 || s.Count(`^SHOW SESSION STATUS LIKE 'binlog_snapshot_%'$`) != 1 {
		t.Fatalf("the run did not open one consistent snapshot: %q", s.Statements())
	}

	// A committed change the follower journals is not a difference; a row
	// the binlog never showed is.
	after := siteRow(3, 102, "https://m2.example", bridge.StatusDown, base.Add(time.Minute))
	s.GTID(mysqlSource, 2).Begin().Update(sites, rows[2], after).Commit()
	s.SetRows(sites, siteRow(7, 106, "https://m6.example", bridge.StatusConfirmedDown, base.Add(2*time.Minute)))
	rep = r.rec.Reconcile(ctx)
	if rep.Outcome != ReconcileDiverged || rep.Differences != 1 || rep.Examples[0].Site != 7 || rep.Examples[0].Table.Status != bridge.StatusConfirmedDown {
		t.Fatalf("after a row the binlog never showed: %+v", rep)
	}
}
