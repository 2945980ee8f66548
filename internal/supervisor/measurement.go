package supervisor

// Measurement summarizes the samples of one figure since the last reset, as
// Thunder's Monitor reports it. All values are zero before the first sample.
type Measurement struct {
	Min     uint64 `json:"min"`
	Max     uint64 `json:"max"`
	Average uint64 `json:"average"`
	Last    uint64 `json:"last"`
}

// Measurements are a service's sampled figures: the bridge process's memory
// in bytes and its process count, whether the service is in operation, and
// how many samples were taken since the last reset.
type Measurements struct {
	Resident    Measurement `json:"resident"`
	Allocated   Measurement `json:"allocated"`
	Shared      Measurement `json:"shared"`
	Process     Measurement `json:"process"`
	Operational bool        `json:"operational"`
	Count       uint64      `json:"count"`
}

// Entry is what Thunder's Monitor reports for one watched service: the
// element of the status property and the result of resetstats.
type Entry struct {
	Measurements Measurements `json:"measurements"`
	Observable   string       `json:"observable"`
	Restart      Limits       `json:"restart"`
}

// series accumulates the samples of one figure.
type series struct {
	min, max, last, sum uint64
}

// add records one sample; count is the number of samples including it.
func (s *series) add(v uint64, count uint64) {
	if count == 1 || v < s.min {
		s.min = v
	}
	if count == 1 || v > s.max {
		s.max = v
	}
	s.last = v
	s.sum += v
}

// measurement summarizes the series over count samples; the average is
// rounded to the nearest integer.
func (s *series) measurement(count uint64) Measurement {
	if count == 0 {
		return Measurement{}
	}
	return Measurement{Min: s.min, Max: s.max, Average: (s.sum + count/2) / count, Last: s.last}
}

// stats are one service's accumulated samples since its last reset.
type stats struct {
	count                                  uint64
	resident, allocated, shared, processes series
}

// add records one sample of the process.
func (s *stats) add(p ProcessSample) {
	s.count++
	s.resident.add(p.Resident, s.count)
	s.allocated.add(p.Allocated, s.count)
	s.shared.add(p.Shared, s.count)
	s.processes.add(p.Processes, s.count)
}

// measurements summarizes the samples; operational is the service's state.
func (s *stats) measurements(operational bool) Measurements {
	return Measurements{
		Resident:    s.resident.measurement(s.count),
		Allocated:   s.allocated.measurement(s.count),
		Shared:      s.shared.measurement(s.count),
		Process:     s.processes.measurement(s.count),
		Operational: operational,
		Count:       s.count,
	}
}
