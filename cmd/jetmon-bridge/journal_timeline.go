package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/automattic/jetmon-bridge/internal/timeline"
)

// runJournalTimeline is "jetmon-bridge journal timeline".
func runJournalTimeline(args []string) error {
	fs := newFlagSet("journal timeline", "jetmon-bridge journal timeline -journal PATH -blog-id B[,B...] [-since S] [-until T] -o FILE.svg")
	path := journalFlag(fs)
	blogList := fs.String("blog-id", "", "the blogs to draw, one row each, e.g. 12345,67890 (required)")
	sinceFlag := fs.String("since", "", "start of the window, RFC 3339 (default: where the journal's coverage begins)")
	untilFlag := fs.String("until", "", "end of the window, RFC 3339 (default: where it ends)")
	out := fs.String("o", "", "the SVG file to write, or - for stdout (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *blogList == "" {
		return usageError{errors.New("-blog-id is required: give one blog id or several separated by commas")}
	}
	blogs, err := timeline.ParseBlogIDs(*blogList)
	if err != nil {
		return usageError{fmt.Errorf("-blog-id: %w", err)}
	}
	if *out == "" {
		return usageError{errors.New("-o is required: name the SVG file to write (or - for stdout)")}
	}
	since, err := timeFlag("since", *sinceFlag)
	if err != nil {
		return err
	}
	until, err := timeFlag("until", *untilFlag)
	if err != nil {
		return err
	}
	j, err := openJournal(*path)
	if err != nil {
		return err
	}
	defer j.Close()
	if since.IsZero() || until.IsZero() {
		from, to, ok, err := j.Extent()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s holds neither events nor coverage: give -since and -until", *path)
		}
		if since.IsZero() {
			since = from
		}
		if until.IsZero() {
			until = to
		}
	}
	if !since.Before(until) {
		return usageError{fmt.Errorf("the window %s .. %s is empty: -since must be before -until", since.Format(time.RFC3339), until.Format(time.RFC3339))}
	}
	chart, err := timeline.Build(context.Background(), j, blogs, since, until, j.Now())
	if err != nil {
		return err
	}
	if *out == "-" {
		return timeline.Render(os.Stdout, chart)
	}
	// Write beside the target and rename, so a failure never leaves half
	// a drawing under the name asked for.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".timeline-*.svg")
	if err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	defer os.Remove(tmp.Name())
	if err := timeline.Render(tmp, chart); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d blog(s), %s to %s\n", *out, len(blogs), since.Format(time.RFC3339), until.Format(time.RFC3339))
	return nil
}
