package sim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-sql-driver/mysql"
)

// DefaultFirstBlogID is the first blog the simulator drives unless told
// otherwise; blogs are numbered consecutively from it.
const DefaultFirstBlogID = 900001

// Site is one monitor row the simulator drives. The simulator needs exactly
// one row per blog_id it drives, so that the blog's events are its row's.
type Site struct {
	BlogID uint64
	URL    string
	// Status is site_status when the site was read.
	Status bridge.Status
}

// SiteURL is the monitor_url Setup gives blogID.
func SiteURL(blogID uint64) string { return fmt.Sprintf("https://sim-%d.example.com", blogID) }

// Setup makes sure the database holds Jetmon 1's table and one active
// monitor row for each blog first .. first+blogs-1, creating what is missing
// (monitor_url SiteURL(blog), bucket_no blog%512, status 1), and returns the
// sites as Load does. Rows that exist are kept as they are.
func Setup(ctx context.Context, db *sql.DB, first uint64, blogs int) ([]Site, error) {
	if err := checkRange(first, blogs); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, bridge.Schema); err != nil {
		return nil, fmt.Errorf("create table %s: %w", bridge.Table, err)
	}
	last := first + uint64(blogs) - 1
	rows, err := db.QueryContext(ctx, "SELECT DISTINCT blog_id FROM "+bridge.Table+" WHERE blog_id BETWEEN ? AND ?", first, last)
	if err != nil {
		return nil, fmt.Errorf("read existing monitors: %w", err)
	}
	have := map[uint64]bool{}
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read existing monitors: %w", err)
		}
		have[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read existing monitors: %w", err)
	}
	// Insert the missing rows in blog order, so that primary-key order is
	// blog order, in batches that keep statements small.
	var missing []uint64
	for id := first; id <= last; id++ {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	for len(missing) > 0 {
		batch := missing[:min(len(missing), 500)]
		missing = missing[len(batch):]
		q := "INSERT INTO " + bridge.Table + " (blog_id, bucket_no, monitor_url) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?,?,?),", len(batch)), ",")
		args := make([]any, 0, 3*len(batch))
		for _, id := range batch {
			args = append(args, id, id%512, SiteURL(id))
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("create monitor rows: %w", err)
		}
	}
	return Load(ctx, db, first, blogs)
}

// Load returns the sites of blogs first .. first+blogs-1 in blog order. Each
// blog must have exactly one row in the table.
func Load(ctx context.Context, db *sql.DB, first uint64, blogs int) ([]Site, error) {
	if err := checkRange(first, blogs); err != nil {
		return nil, err
	}
	last := first + uint64(blogs) - 1
	rows, err := db.QueryContext(ctx, "SELECT blog_id, monitor_url, site_status FROM "+bridge.Table+
		" WHERE blog_id BETWEEN ? AND ? ORDER BY blog_id, jetpack_monitor_site_id", first, last)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1146 {
			return nil, fmt.Errorf("table %s does not exist: create it and the monitor rows with -create (sim.Setup)", bridge.Table)
		}
		return nil, fmt.Errorf("read monitors: %w", err)
	}
	defer rows.Close()
	sites := make([]Site, 0, blogs)
	for rows.Next() {
		var s Site
		var status uint8
		if err := rows.Scan(&s.BlogID, &s.URL, &status); err != nil {
			return nil, fmt.Errorf("read monitors: %w", err)
		}
		s.Status = bridge.Status(status)
		if n := len(sites); n > 0 && sites[n-1].BlogID == s.BlogID {
			return nil, fmt.Errorf("blog %d has several rows in %s; the simulator needs exactly one row per blog it drives (choose other blogs with -first-blog)", s.BlogID, bridge.Table)
		}
		if !s.Status.Valid() {
			return nil, fmt.Errorf("blog %d has site_status %d, which Jetmon 1 never writes", s.BlogID, status)
		}
		sites = append(sites, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read monitors: %w", err)
	}
	if len(sites) < blogs {
		next := first
		for _, s := range sites {
			if s.BlogID != next {
				break
			}
			next++
		}
		return nil, fmt.Errorf("blog %d has no row in %s (%d of blogs %d..%d exist): create them with -create (sim.Setup)", next, bridge.Table, len(sites), first, last)
	}
	return sites, nil
}

func checkRange(first uint64, blogs int) error {
	switch {
	case blogs <= 0:
		return fmt.Errorf("the number of blogs must be positive, not %d", blogs)
	case first == 0:
		return errors.New("blog ids start at 1")
	case first+uint64(blogs)-1 >= 1<<31:
		return fmt.Errorf("blogs %d..%d exceed 2^31-1, the largest blog_id Jetmon 1's verifier handles", first, first+uint64(blogs)-1)
	}
	return nil
}
