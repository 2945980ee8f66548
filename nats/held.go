package nats

// heldError is a failure of a publisher run that waits on something
// outside the bridge rather than a fault: another bridge publishing what
// only it holds, a duplicate window passing, an operator acting. The run
// fails with it, so the Monitor reports Publisher not in operation with the
// sentence as its reason (and /healthz and jetmon_bridge_publish_held say
// so), and the supervisor runs it again after its back-off, when the
// publisher looks afresh. It publishes nothing meanwhile.
type heldError struct{ error }

func (e heldError) Unwrap() error { return e.error }
