package supervisor

import "sync"

// Action is what the Supervisor did to a service, as Thunder's Monitor names it.
type Action string

// The actions of Thunder's Monitor "action" notification.
const (
	// Activate: the service is (back) in operation.
	Activate Action = "Activate"
	// Deactivate: the service failed; the reason names why.
	Deactivate Action = "Deactivate"
	// StoppedRestarting: the service failed more often than its restart
	// limits allow and is left stopped until its limits are set again.
	StoppedRestarting Action = "StoppedRestarting"
)

// Notification reports one Action on one service: the parameters of Thunder's
// Monitor "action" notification.
type Notification struct {
	Callsign string `json:"callsign"`
	Action   Action `json:"action"`
	Reason   string `json:"reason"`
}

// subscribers fans notifications out to the functions given to Subscribe.
//
// publishing holds deliver for the whole delivery, and the Supervisor holds it
// across a state change and its publication, so every subscriber sees every
// notification in the order the state changes happened, one at a time.
type subscribers struct {
	deliver sync.Mutex

	mu     sync.Mutex
	nextID uint64
	funcs  map[uint64]func(Notification)
}

// add registers fn and returns the function that unregisters it.
func (s *subscribers) add(fn func(Notification)) (cancel func()) {
	s.mu.Lock()
	if s.funcs == nil {
		s.funcs = make(map[uint64]func(Notification))
	}
	s.nextID++
	id := s.nextID
	s.funcs[id] = fn
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			// Waiting for deliver guarantees fn is not running and will
			// not be called once cancel has returned.
			s.deliver.Lock()
			defer s.deliver.Unlock()
			s.mu.Lock()
			delete(s.funcs, id)
			s.mu.Unlock()
		})
	}
}

// publish calls every subscriber with n. The caller holds s.deliver.
func (s *subscribers) publish(n Notification) {
	s.mu.Lock()
	ids := make([]uint64, 0, len(s.funcs))
	for id := range s.funcs {
		ids = append(ids, id)
	}
	fns := make([]func(Notification), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, s.funcs[id])
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(n)
	}
}
