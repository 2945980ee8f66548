package supervisor

// sampler takes the periodic samples of the process's figures for Run.
// Only Run's goroutine uses it.
type sampler struct {
	s *Supervisor
	// lastErr is the message of the last failed sample, so that a lasting
	// failure is logged once rather than every interval.
	lastErr string
}

func newSampler(s *Supervisor) *sampler { return &sampler{s: s} }

// sampleAll reads the process's figures once and adds them to every
// watched service's statistics, whatever the service's state: all services
// run inside the one bridge process.
func (p *sampler) sampleAll() {
	sample, err := p.s.sample()
	if err != nil {
		if msg := err.Error(); msg != p.lastErr {
			p.s.log.Warn("cannot sample process figures; measurements are not updated", "error", err)
			p.lastErr = msg
		}
		return
	}
	if p.lastErr != "" {
		p.s.log.Info("sampling process figures again")
		p.lastErr = ""
	}
	p.s.mu.Lock()
	for _, w := range p.s.services {
		w.stats.add(sample)
	}
	p.s.mu.Unlock()
}
