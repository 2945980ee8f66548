package binlog

import (
	"math/rand/v2"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/replication"
)

// outcome is what differential saw of one generated event.
type outcome struct {
	selective bool // the selective decoder read the event itself
	decoded   bool // both ways decoded it into Monitors
	faulty    bool // the generator put a fault in it
}

// differential decodes one generated rows event both ways and fails t
// when the selective decoder and go-mysql's full decode disagree: on the
// Monitors, field by field, when both decode it; on the complaint, word
// for word, when both refuse it (the generator puts at most one fault in
// an event, so both must name the same one). With corrupt set, the row
// images' bytes at corrupt[0] (modulo their length) are XORed with
// corrupt[1] first: go-mysql may then refuse the event, and the selective
// decoder must not panic whatever it makes of it; only whether each
// refuses it is compared then.
func differential(t testing.TB, c chooser, corrupt []byte) outcome {
	t.Helper()
	g := newGenLayout(c)
	tp, rows, imagesAt, fault := g.rowsEvent(c)
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
	if full.selective {
		t.Fatal("go-mysql's full decode left a deferred body: the differential compares nothing")
	}
	res := outcome{selective: sel.selective, faulty: fault.kind != faultNone}
	if full.parseErr != nil {
		if corrupt == nil {
			t.Fatalf("go-mysql refused a generated %s: %v", tp, full.parseErr)
		}
		return res
	}
	if (full.err == nil) != (sel.err == nil) || (corrupt == nil && full.err != nil && full.err.Error() != sel.err.Error()) {
		t.Fatalf("%s of %d columns (metadata %d, fault %+v): go-mysql's decode says %v, the selective decoder %v\nlayout: %+v",
			tp, len(g.cols), g.metadata, fault, full.err, sel.err, g.names())
	}
	if full.err != nil {
		return res
	}
	res.decoded = true
	if len(full.monitors) != len(sel.monitors) {
		t.Fatalf("%s: go-mysql's decode made %d rows, the selective decoder %d", tp, len(full.monitors), len(sel.monitors))
	}
	for i := range full.monitors {
		if !sameMonitor(full.monitors[i], sel.monitors[i]) {
			t.Fatalf("%s row %d (layout %v):\n go-mysql:  %+v\n selective: %+v", tp, i, g.names(), full.monitors[i], sel.monitors[i])
		}
	}
	return res
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
// random rows (NULLs, zero dates, columns left out of an image, compressed
// events, and in one event in four one fault: a NULL or a missing column
// the bridge needs, a status that is no Jetmon status), the selective
// decoder gives the Monitors go-mysql's full decode gives, field by field,
// or refuses with the same complaint. It counts the path each event took,
// so a selective path that is never taken fails it, as does a generator
// whose events mostly fail (their Monitors would go uncompared).
func TestSelectiveDecoderMatchesGoMySQL(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2026))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var selective, decoded, selectiveDecoded, faulty, faultsRefused int
	for range n {
		o := differential(t, randChooser{r}, nil)
		if o.selective {
			selective++
		}
		if o.decoded {
			decoded++
			if o.selective {
				selectiveDecoded++
			}
		}
		if o.faulty {
			faulty++
			if !o.decoded {
				faultsRefused++
			}
		}
	}
	t.Logf("%d of %d events read selectively; %d decoded both ways (%d of them selectively); %d had a fault, %d refused",
		selective, n, decoded, selectiveDecoded, faulty, faultsRefused)
	// Most layouts are the selective decoder's to read; the rest exercise
	// the fallback. Both must be compared, on Monitors mostly.
	if selective < n/2 || selective == n {
		t.Errorf("%d of %d events read selectively: the generator no longer covers both paths", selective, n)
	}
	if decoded < n/2 || selectiveDecoded < n/3 {
		t.Errorf("only %d of %d events decoded both ways (%d selectively): most go uncompared", decoded, n, selectiveDecoded)
	}
	if faulty < n/8 || faultsRefused != faulty {
		t.Errorf("%d events had a fault and %d of them were refused: every fault must be", faulty, faultsRefused)
	}
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
