package binlog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// Swapping site_status and monitor_active (both tinyint unsigned) changes
// nothing a table map shows without column names: only the layout says
// which is which.
const (
	statusAfterURL    = "MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_url"
	statusAfterActive = "MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_active"
)

// TestCommentedAltersAreLayoutBoundaries: an ALTER that starts with a
// comment, and one written as an executable comment (as mysqldump and
// migration tools write them), swap two columns of the same type under a
// live follower of a replica; an UPDATE of monitor_active alone after each
// must not become a transition, and every real transition must be read.
func TestCommentedAltersAreLayoutBoundaries(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 4)
	c.r.start()
	c.pastSpanStart(c.r.journal)
	c.exec(transition(1, 0))
	c.exec("/* m1 */ ALTER TABLE jetpack_monitor_sites " + statusAfterURL)
	c.exec(activeOnly(2, 0), transition(3, 2))
	// The follower proves the new layout from the binlog up to its end: let
	// it do so before the next ALTER, or (on a loaded machine) it would find
	// both ALTERs behind it and rightly record a gap, which is
	// TestSchemaChangesWhileBehind's case, not this one.
	c.waitJournaled()
	c.exec("/*!50000 ALTER TABLE `jetpack_monitor_sites` " + statusAfterActive + " */")
	c.exec(activeOnly(2, 1), activeOnly(4, 0), transition(4, 0))
	c.waitJournaled()
	c.exactly()
	if n := len(c.truth()); n != 3 {
		t.Fatalf("the primary committed %d transitions, the test made 3", n)
	}
}

// TestSchemaChangesWhileBehind: with the follower stopped, the primary adds
// a column, changes rows, then drops it and swaps two columns, and changes
// rows again. With binlog_row_metadata=FULL the rows name their columns
// and the catch-up is exact. Without, the rows between the two changes
// were written with a layout nobody can know any longer: the journal
// records a gap ("schema changed while the bridge was behind") and a fresh
// span, holds nothing decoded by a wrong layout, and follows on, also
// across a restart (no restart loop).
func TestSchemaChangesWhileBehind(t *testing.T) {
	for _, metadata := range []string{"NO_LOG", "FULL"} {
		t.Run("binlog_row_metadata="+metadata, func(t *testing.T) {
			args := []string{"--binlog-row-metadata=" + metadata}
			c := newChain(t, testdb.TopologyOptions{PrimaryArgs: args, ReplicaArgs: args}, 6)
			c.r.start()
			c.pastSpanStart(c.r.journal)
			c.exec(transition(1, 0))
			c.waitJournaled()
			c.r.stop()

			c.exec(transition(2, 0))
			c.exec("ALTER TABLE jetpack_monitor_sites ADD COLUMN note VARCHAR(20) NULL AFTER monitor_url")
			c.exec(transition(3, 0), activeOnly(4, 0), transition(1, 2))
			c.exec("ALTER TABLE jetpack_monitor_sites DROP COLUMN note, " + statusAfterURL)
			c.exec(transition(5, 2), activeOnly(4, 1), activeOnly(6, 0))
			c.waitCaughtUp()

			c.r.start()
			c.waitJournaled()
			c.pastSpanStart(c.r.journal)
			c.exec(transition(6, 0), activeOnly(2, 0))
			c.waitJournaled()
			// Restarting finds nothing to stop it.
			c.r.stop()
			c.r.start()
			c.exec(transition(6, 1))
			c.waitJournaled()

			if metadata == "FULL" {
				c.exactly()
				return
			}
			gaps := c.withinSpans()
			if len(gaps) != 1 || gaps[0].Reason != ReasonSchemaChanged {
				t.Fatalf("gaps %+v, want one: %q", gaps, ReasonSchemaChanged)
			}
			// What was read before the first change is journaled, and all
			// after the fresh span began.
			var blogs []string
			for _, e := range c.journaled() {
				blogs = append(blogs, fmt.Sprint(e.BlogID))
			}
			if got := strings.Join(blogs, " "); got != "1 2 6 6" {
				t.Errorf("journaled transitions of blogs %q, want 1 2 6 6", got)
			}
		})
	}
}

// TestTableSwapByRename: gh-ost's cut-over (RENAME TABLE ... TO _del,
// _gho TO jetpack_monitor_sites, qualified, backquoted, after a comment)
// puts a table with site_status and monitor_active swapped in the
// followed table's place. Live, the follower reads on exactly. Behind,
// across the swap and a later ALTER, it records a gap and never decodes a
// row by a wrong layout.
func TestTableSwapByRename(t *testing.T) {
	for _, behind := range []bool{false, true} {
		t.Run(map[bool]string{false: "live", true: "behind"}[behind], func(t *testing.T) {
			c := newChain(t, testdb.TopologyOptions{}, 4)
			c.r.start()
			c.pastSpanStart(c.r.journal)
			c.exec(transition(1, 0))
			c.waitJournaled()
			if behind {
				c.r.stop()
			}
			db := "`" + c.db.Name + "`"
			c.exec("CREATE TABLE _jetpack_monitor_sites_gho LIKE jetpack_monitor_sites",
				"ALTER TABLE _jetpack_monitor_sites_gho "+statusAfterURL,
				"INSERT INTO _jetpack_monitor_sites_gho (jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change, check_interval) "+
					"SELECT jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change, check_interval FROM jetpack_monitor_sites",
				truthTriggerOn("truth_gho", "_jetpack_monitor_sites_gho"))
			c.exec(fmt.Sprintf("rename /* gh-ost */ table %[1]s.`jetpack_monitor_sites` to %[1]s.`_jetpack_monitor_sites_del`, "+
				"%[1]s.`_jetpack_monitor_sites_gho` to %[1]s.`jetpack_monitor_sites`", db))
			c.exec("DROP TABLE IF EXISTS `_jetpack_monitor_sites_del`")
			c.exec(activeOnly(2, 0), transition(3, 2))
			if behind {
				c.exec("ALTER TABLE jetpack_monitor_sites ADD COLUMN note VARCHAR(20) NULL FIRST")
				c.exec(transition(4, 0), activeOnly(2, 1))
				c.waitCaughtUp()
				c.r.start()
			}
			c.waitJournaled()
			if !behind {
				c.exactly()
				return
			}
			if gaps := c.withinSpans(); len(gaps) != 1 || gaps[0].Reason != ReasonSchemaChanged {
				t.Fatalf("gaps %+v, want one: %q", gaps, ReasonSchemaChanged)
			}
		})
	}
}
