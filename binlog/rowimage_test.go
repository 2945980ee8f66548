package binlog

import (
	"math/rand/v2"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/replication"
)

// differential decodes one generated rows event both ways and fails t
// when the selective decoder and go-mysql's full decode disagree. With
// corrupt set, the row images' bytes at corrupt[0] (modulo their length)
// are XORed with corrupt[1] first: go-mysql may then refuse the event, and
// the selective decoder must not panic whatever it makes of it. It
// reports whether the selective decoder read the event itself (rather
// than falling back to go-mysql).
func differential(t testing.TB, c chooser, corrupt []byte) (selective bool) {
	t.Helper()
	g := newGenLayout(c)
	tp, rows, imagesAt := g.rowsEvent(c)
	if len(corrupt) >= 2 && imagesAt < len(rows) && tp < replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1 {
		rows[imagesAt+int(corrupt[0])%(len(rows)-imagesAt)] ^= corrupt[1]
	}
	lay, err := newLayout(g.names())
	if err != nil {
		t.Fatal(err)
	}
	fde, tmap := formatDescription(), g.tableMap(bridge.Table)
	full := decodeSide(false, fde, tmap, rows, tp, lay)
	sel := decodeSide(true, fde, tmap, rows, tp, lay)
	if sel.parseErr != nil {
		t.Fatalf("the follower's go-mysql parser refused a %s: %v", tp, sel.parseErr)
	}
	if full.parseErr != nil {
		if corrupt == nil {
			t.Fatalf("go-mysql refused a generated %s: %v", tp, full.parseErr)
		}
		return false
	}
	if (full.err == nil) != (sel.err == nil) {
		t.Fatalf("%s of %d columns (metadata %d): go-mysql's decode says %v, the selective decoder %v\nlayout: %+v",
			tp, len(g.cols), g.metadata, full.err, sel.err, g.names())
	}
	if len(full.monitors) != len(sel.monitors) {
		t.Fatalf("%s: go-mysql's decode made %d rows, the selective decoder %d", tp, len(full.monitors), len(sel.monitors))
	}
	for i := range full.monitors {
		if !sameMonitor(full.monitors[i], sel.monitors[i]) {
			t.Fatalf("%s row %d (layout %v):\n go-mysql:  %+v\n selective: %+v", tp, i, g.names(), full.monitors[i], sel.monitors[i])
		}
	}
	lay2 := lay
	var d rowDecoder
	plan, err := d.planFor(mustTableMap(t, fde, tmap), lay2)
	return err == nil && plan.selective
}

func sameMonitor(a, b bridge.Monitor) bool {
	return a.SiteID == b.SiteID && a.BlogID == b.BlogID && a.URL == b.URL && a.Active == b.Active &&
		a.Status == b.Status && a.LastStatusChange.Equal(b.LastStatusChange) &&
		a.LastStatusChange.Location() == b.LastStatusChange.Location()
}

func mustTableMap(t testing.TB, fde, tmap []byte) *replication.TableMapEvent {
	p := replication.NewBinlogParser()
	if _, err := p.Parse(fde); err != nil {
		t.Fatal(err)
	}
	ev, err := p.Parse(tmap)
	if err != nil {
		t.Fatal(err)
	}
	return ev.Event.(*replication.TableMapEvent)
}

// TestSelectiveDecoderMatchesGoMySQL: on random layouts of the table
// (column types, order, other columns, metadata FULL, MINIMAL or none) and
// random rows (NULLs, zero dates, invalid statuses, columns left out of an
// image, compressed events), the selective decoder gives the Monitors
// go-mysql's full decode gives, or fails where it fails.
func TestSelectiveDecoderMatchesGoMySQL(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2026))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	selective := 0
	for range n {
		if differential(t, randChooser{r}, nil) {
			selective++
		}
	}
	// Most layouts are the selective decoder's to read; the rest exercise
	// the fallback. Both must be compared.
	if selective < n/2 || selective == n {
		t.Fatalf("%d of %d events read selectively: the generator no longer covers both paths", selective, n)
	}
	t.Logf("%d of %d events read selectively", selective, n)
}

// FuzzSelectiveDecoder drives the layout and row generator from the
// fuzzer's bytes, optionally corrupting a byte of the row images.
func FuzzSelectiveDecoder(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, []byte{3, 0x80})
	r := rand.New(rand.NewPCG(1, 1))
	for range 8 {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b, []byte{byte(r.Uint32()), byte(r.Uint32())})
	}
	f.Fuzz(func(t *testing.T, choices, corrupt []byte) {
		if len(corrupt) < 2 {
			corrupt = nil
		}
		differential(t, &byteChooser{b: choices}, corrupt)
	})
}
