package server

import (
	"fmt"
	"testing"
)

func TestRecentWritesBoundedAndGenerational(t *testing.T) {
	r := newRecentWrites(3)
	for i := range 5 {
		r.note(fmt.Sprintf("https://%d.example", i))
	}
	if r.len() != 3 {
		t.Fatalf("%d URLs kept, limit 3", r.len())
	}
	if _, ok := r.pending("https://1.example"); ok {
		t.Error("the oldest URL was kept past the limit")
	}
	gen, ok := r.pending("https://2.example")
	if !ok {
		t.Fatal("a recent URL was forgotten")
	}
	// Written again before the replica was seen to agree: the earlier
	// write's agreement must not forget the later one.
	r.note("https://2.example")
	r.settled("https://2.example", gen)
	later, ok := r.pending("https://2.example")
	if !ok || later == gen {
		t.Fatalf("a later write was forgotten by an earlier one's agreement: %d %v", later, ok)
	}
	// Noting again made it the newest: the next URL evicts 3, not 2.
	r.note("https://5.example")
	if _, ok := r.pending("https://3.example"); ok {
		t.Error("3 should have been evicted as the oldest")
	}
	r.settled("https://2.example", later)
	if _, ok := r.pending("https://2.example"); ok || r.len() != 2 {
		t.Errorf("settled URL still pending (%v), %d kept", ok, r.len())
	}
}
