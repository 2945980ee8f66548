package supervisor

import "context"

// Service is one long-running part of the bridge that the Supervisor keeps in
// operation, such as the binlog follower or a database health check.
type Service interface {
	// Run does the service's work until ctx ends or the service fails.
	//
	// Run calls ready once the service is in operation (for instance
	// connected and streaming); the Supervisor then reports it operational
	// and notifies Activate. Calling ready again, or after Run has returned,
	// has no effect.
	//
	// When ctx ends Run returns nil or ctx.Err(). When the service fails it
	// returns a non-nil error that names why (the database error, say): the
	// Supervisor reports it as the reason of a Deactivate notification and
	// calls Run again after a back-off, unless the restart limits are used
	// up. Returning nil while ctx is still alive counts as a failure too.
	//
	// The Supervisor calls Run from one goroutine at a time per service.
	Run(ctx context.Context, ready func()) error
}

// ServiceFunc adapts an ordinary function to the Service interface.
type ServiceFunc func(ctx context.Context, ready func()) error

// Run calls f(ctx, ready).
func (f ServiceFunc) Run(ctx context.Context, ready func()) error { return f(ctx, ready) }
