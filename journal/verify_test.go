package journal

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

func TestVerifySoundJournal(t *testing.T) {
	f := buildJournal(t, t.TempDir())
	r, err := Verify(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("a sound journal has problems: %q", r.Problems)
	}
	if r.Events != uint64(len(f.events)) || r.IndexEntries != r.Events || r.Monitors != 6 || r.Spans != 2 {
		t.Errorf("report %+v", r)
	}
	// A fresh, empty journal is sound too.
	p := filepath.Join(t.TempDir(), "empty.journal")
	j, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if r, err := Verify(p); err != nil || !r.OK() {
		t.Errorf("empty journal: %v %q", err, r.Problems)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// damaged verifies a damaged copy and checks that some problem mentions
// want.
func damaged(t *testing.T, path, want string) *Report {
	t.Helper()
	r, err := Verify(path)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.OK() {
		t.Fatalf("damage was not reported (want %q)", want)
	}
	for _, p := range r.Problems {
		if strings.Contains(p, want) {
			return r
		}
	}
	t.Fatalf("no problem mentions %q: %q", want, r.Problems)
	return r
}

func TestVerifyReportsTruncation(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	// bbolt grows a file ahead of its pages; cutting only that unused tail
	// loses nothing. Cut into the pages.
	used := usedBytes(t, f.path)
	p := copyFile(t, f.path, dir, "tail")
	if err := os.Truncate(p, used); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(p); err != nil || !r.OK() {
		t.Errorf("a file cut after its last page is sound, got %v %q", err, r.Problems)
	}
	for _, size := range []int64{used - 1, used - 4096, used / 2, 3 * 4096} {
		p := copyFile(t, f.path, dir, "truncated")
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		damaged(t, p, "truncated")
		os.Remove(p)
	}
	p = copyFile(t, f.path, dir, "stub")
	if err := os.Truncate(p, 100); err != nil {
		t.Fatal(err)
	}
	damaged(t, p, "cannot open the file")
}

// usedBytes is the length of the file's pages, up to its high water mark.
func usedBytes(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// flip copies the journal and XORs the bytes at offs with mask.
func flip(t *testing.T, src, dir string, mask byte, offs ...int64) string {
	t.Helper()
	p := copyFile(t, src, dir, "flipped")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range offs {
		data[off] ^= mask
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// occurrences returns the offsets of every copy of pattern in data that
// lies in a data page (past the two meta pages). Superseded copies of a
// page linger in free pages, so the live one is among several.
func occurrences(t *testing.T, data, pattern []byte) []int64 {
	t.Helper()
	var offs []int64
	for i := 0; ; {
		at := bytes.Index(data[i:], pattern)
		if at < 0 {
			break
		}
		if i+at >= 2*4096 {
			offs = append(offs, int64(i+at))
		}
		i += at + 1
	}
	if len(offs) == 0 {
		t.Fatalf("pattern %x not found in a data page", pattern)
	}
	return offs
}

func shift(offs []int64, by int64) []int64 {
	out := make([]int64, len(offs))
	for i, o := range offs {
		out[i] = o + by
	}
	return out
}

// storedRun returns a copy of the record of kind's run that holds e.
func storedRun(t *testing.T, tx *bolt.Tx, kind runKind, e bridge.Event) (k, v []byte) {
	t.Helper()
	en := entry{created: e.CreatedAt.Unix(), id: e.ID, blog: e.BlogID}
	c := tx.Bucket(kind.bucket).Cursor()
	sk, sv := c.Seek(kind.appendKey(nil, en))
	if sk == nil || !bytes.Equal(sk, kind.appendKey(nil, en)) {
		if sk == nil {
			sk, sv = c.Last()
		} else {
			sk, sv = c.Prev()
		}
	}
	if sk == nil {
		t.Fatalf("no %s run holds event %d", kind.bucket, e.ID)
	}
	return bytes.Clone(sk), bytes.Clone(sv)
}

// runRecord reads storedRun from the file at path.
func runRecord(t *testing.T, path string, kind runKind, e bridge.Event) (k, v []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error { k, v = storedRun(t, tx, kind, e); return nil })
	return k, v
}

func TestVerifyReportsFlippedBytesInDataPages(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	e := f.events[len(f.events)/2]
	// In a leaf page an element's value directly follows its key.
	k, v := runRecord(t, f.path, eventRuns, e)
	offs := occurrences(t, data, append(k, v...))
	// A bit of the run's first id: that id goes missing from 1..seq.
	damaged(t, flip(t, f.path, dir, 0x40, shift(offs, 15)...), "is missing")
	// The top bit of its first status: no valid status has it.
	damaged(t, flip(t, f.path, dir, 0x80, shift(offs, int64(len(k)+1))...), "events run")
	// A bit of its first blog id (101 takes one byte): the blogs bucket's
	// copy no longer matches.
	damaged(t, flip(t, f.path, dir, 0x01, shift(offs, int64(len(k)))...), "does not match")
	// A bit of the time in a blogs run's key.
	k, v = runRecord(t, f.path, blogRuns, e)
	damaged(t, flip(t, f.path, dir, 0x10, shift(occurrences(t, data, append(k, v...)), 12)...), "blogs")
}

// TestVerifyReportsKeysOutOfOrder gives a run of the blogs bucket its
// predecessor's key: the page walk reports the repeated key before bbolt
// reads a page. bbolt's own walk (it finds the free pages so in a file that
// records no freelist, as the journal's do) would panic on it while its
// goroutine goes on.
func TestVerifyReportsKeysOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var k1, k2, v2 []byte
	db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(blogRuns.bucket).Cursor()
		prev, _ := c.First()
		for k, v := c.Next(); k != nil; k, v = c.Next() {
			if len(k) == len(prev) {
				k1, k2, v2 = slices.Clone(prev), slices.Clone(k), slices.Clone(v)
				return nil
			}
			prev = k
		}
		return nil
	})
	db.Close()
	if k2 == nil || len(k1) != len(k2) {
		t.Fatalf("want two runs with keys of one length, got %x and %x", k1, k2)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	offs := occurrences(t, data, append(k2, v2...))
	if len(offs) == 0 {
		t.Fatal("the second run is nowhere in the file")
	}
	for _, off := range offs {
		copy(data[off:], k1)
	}
	p := filepath.Join(dir, "repeated-key.journal")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := damaged(t, p, "its key")
	if !slices.ContainsFunc(r.Problems, func(s string) bool { return strings.Contains(s, "bbolt's own page check were skipped") }) {
		t.Errorf("bbolt read the pages of a file whose keys are out of order: %q", r.Problems)
	}
}

// TestVerifySurvivesRandomDamage flips random bytes all over the data
// pages. Verify must never crash, and it must not call a file sound whose
// events have changed: every event is stored twice (in time order and per
// blog), so a flip that alters what Export serves is always detectable.
// A file Verify calls sound is structurally safe to read, so the test
// exports it and compares with the undamaged events. Flips that land in
// free space, or in bytes whose change Verify cannot tell from a legitimate
// value (a monitor's URL, a binlog position), may pass as sound.
func TestVerifySurvivesRandomDamage(t *testing.T) {
	dir := t.TempDir()
	path := buildLargeJournal(t, dir, 5000)
	if r, err := Verify(path); err != nil || !r.OK() {
		t.Fatalf("the undamaged journal: %v %q", err, r.Problems)
	}
	want := eventsOf(t, path)
	used := usedBytes(t, path)
	seed := uint64(1)
	if s := os.Getenv("VERIFY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	found, harmless := 0, 0
	tries := 300
	if s := os.Getenv("VERIFY_FLIPS"); s != "" {
		tries, _ = strconv.Atoi(s)
	}
	for i := 0; i < tries; i++ {
		off := 2*4096 + rng.Int64N(used-2*4096)
		p := flip(t, path, dir, byte(1+rng.IntN(255)), off)
		r, err := Verify(p)
		if err != nil {
			t.Fatalf("flip at %d: %v", off, err)
		}
		if !r.OK() {
			found++
			if testing.Verbose() && found <= 40 {
				t.Logf("flip at %d: %q", off, r.Problems[0])
			}
		} else if got := eventsOf(t, p); !slices.Equal(got, want) {
			t.Errorf("flip at %d changed the events Export serves, yet Verify calls the file sound", off)
		} else {
			harmless++
		}
		os.Remove(p)
	}
	t.Logf("%d of %d random flips were reported; %d left every event intact", found, tries, harmless)
	// A quarter to a third of the used bytes are live records (the rest is
	// free space and slack in pages, and the layout varies from build to
	// build of the file): a Verify that missed damage there would report
	// far fewer than a tenth.
	if found < tries/10 {
		t.Errorf("only %d of %d random flips were reported", found, tries)
	}
}

// eventsOf returns every event of the journal at path, as Export serves
// them.
func eventsOf(t *testing.T, path string) []bridge.Event {
	t.Helper()
	j, err := OpenForTools(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer j.Close()
	return exportAll(t, j, ExportFilter{})
}

// TestVerifyReportsBrokenInvariants breaks each invariant through bbolt
// itself, so only the journal's own checks can notice.
func TestVerifyReportsBrokenInvariants(t *testing.T) {
	// rewrite replaces the run of kind holding event 3 with what edit makes
	// of its events.
	rewrite := func(tx *bolt.Tx, f *fixture, kind runKind, edit func([]entry) []entry) error {
		k, v := storedRun(t, tx, kind, f.events[3])
		es, err := kind.decode(nil, k, v)
		if err != nil {
			return err
		}
		b := tx.Bucket(kind.bucket)
		if err := b.Delete(k); err != nil {
			return err
		}
		if es = edit(es); len(es) == 0 {
			return nil
		}
		return b.Put(kind.appendKey(nil, es[0]), kind.encode(nil, es))
	}
	drop := func([]entry) []entry { return nil }
	cases := []struct {
		name, want string
		damage     func(tx *bolt.Tx, f *fixture) error
	}{
		{"blogs run missing", "no entry in the blogs bucket", func(tx *bolt.Tx, f *fixture) error {
			return rewrite(tx, f, blogRuns, drop)
		}},
		{"events run missing", "has no event", func(tx *bolt.Tx, f *fixture) error {
			return rewrite(tx, f, eventRuns, drop)
		}},
		{"status differs", "does not match", func(tx *bolt.Tx, f *fixture) error {
			return rewrite(tx, f, blogRuns, func(es []entry) []entry {
				if last := &es[len(es)-1]; last.status == packStatus(2, 0) {
					last.status = packStatus(2, 1)
				} else {
					last.status = packStatus(2, 0)
				}
				return es
			})
		}},
		{"duplicate id", "appears more than once", func(tx *bolt.Tx, f *fixture) error {
			e := f.events[3]
			dup := entry{created: e.CreatedAt.Unix() + 1000, id: e.ID, blog: e.BlogID, status: packStatus(e.OldStatus, e.NewStatus)}
			return tx.Bucket(bucketEvents).Put(eventRuns.appendKey(nil, dup), eventRuns.encode(nil, []entry{dup}))
		}},
		{"overlapping runs", "starts before the run ahead of it ends", func(tx *bolt.Tx, f *fixture) error {
			// A run from before the first event to after the last one.
			n := uint64(len(f.events))
			first, last := f.events[0], f.events[n-1]
			es := []entry{
				{created: first.CreatedAt.Unix() - 10, id: n + 1, blog: first.BlogID, status: packStatus(1, 0)},
				{created: last.CreatedAt.Unix() + 10, id: n + 2, blog: first.BlogID, status: packStatus(0, 1)},
			}
			return tx.Bucket(bucketEvents).Put(eventRuns.appendKey(nil, es[0]), eventRuns.encode(nil, es))
		}},
		{"seq too high", "meta seq is", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMeta).Put(keySeq, u64(uint64(len(f.events)+2)))
		}},
		{"undecodable run", "events run", func(tx *bolt.Tx, f *fixture) error {
			k, _ := storedRun(t, tx, eventRuns, f.events[3])
			return tx.Bucket(bucketEvents).Put(k, []byte{0x80})
		}},
		{"overlapping spans", "must not overlap", func(tx *bolt.Tx, f *fixture) error {
			k, v := encodeSpan(spanRecord{Span: spanOf(t0.Add(150*time.Second), t0.Add(160*time.Second)), Closed: true, Reason: "x"})
			return tx.Bucket(bucketSpans).Put(k, v)
		}},
		{"open span not last", "is open but is not the last", func(tx *bolt.Tx, f *fixture) error {
			k, v := encodeSpan(spanRecord{Span: spanOf(t0, t0.Add(200*time.Second))})
			return tx.Bucket(bucketSpans).Put(k, v)
		}},
		{"span ends before it starts", "before it starts", func(tx *bolt.Tx, f *fixture) error {
			k, v := encodeSpan(spanRecord{Span: spanOf(t0.Add(500*time.Second), t0.Add(400*time.Second))})
			return tx.Bucket(bucketSpans).Put(k, v)
		}},
		{"checkpoint garbage", "checkpoint does not decode", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMeta).Put(keyCheckpoint, []byte("{nope"))
		}},
		{"checkpoint insane", "inside the binlog file header", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMeta).Put(keyCheckpoint, []byte(`{"flavor":"mysql","file":"binlog.000001","pos":0}`))
		}},
		{"checkpoint missing", "no binlog checkpoint", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMeta).Delete(keyCheckpoint)
		}},
		{"monitor garbage", "monitors page", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMonitors).Put(u64(7), []byte{1})
		}},
		{"bucket missing", `bucket "spans" is missing`, func(tx *bolt.Tx, f *fixture) error {
			return tx.DeleteBucket(bucketSpans)
		}},
		{"wrong version", "this build reads format", func(tx *bolt.Tx, f *fixture) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, u64(99))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := buildJournal(t, t.TempDir())
			db, err := bolt.Open(f.path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error { return c.damage(tx, f) })
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			damaged(t, f.path, c.want)
		})
	}
}

func spanOf(start, end time.Time) bridge.Span { return bridge.Span{Start: start, End: end} }

func TestOpenForToolsRefusesDamageItCannotRead(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	j, err := OpenForTools(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if j.LastID() != uint64(len(f.events)) {
		t.Errorf("seq %d", j.LastID())
	}
	j.Close()
	p := copyFile(t, f.path, dir, "cut")
	if err := os.Truncate(p, usedBytes(t, f.path)/2); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenForTools(p); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "journal verify") {
		t.Errorf("OpenForTools of a truncated file: %v", err)
	}
	if _, _, err := Compact(p, filepath.Join(dir, "out")); !errors.Is(err, ErrDamaged) {
		t.Errorf("Compact of a truncated file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("Compact of a damaged file left output: %v", err)
	}
	held, err := Open(f.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := OpenForTools(f.path); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenForTools of a held file: %v", err)
	}
}
