package journal

import "time"

// Extent is the stretch the journal knows about: from the earliest of
// its first span and first event to the latest of its last span's end and
// the second after its last event.
func (j *Journal) Extent() (from, to time.Time, ok bool, err error) {
	st, err := j.Stats()
	if err != nil {
		return from, to, false, err
	}
	if n := len(st.Spans); n > 0 {
		from, to, ok = st.Spans[0].Start, st.Spans[n-1].End, true
	}
	if st.FirstEvent != nil {
		if !ok || st.FirstEvent.Before(from) {
			from = *st.FirstEvent
		}
		if last := st.LastEvent.Add(time.Second); !ok || last.After(to) {
			to = last
		}
		ok = true
	}
	return from, to, ok, nil
}
