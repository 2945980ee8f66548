package main

import "context"

// runGroup runs actors until the first one returns, then stops the others
// and waits for them, in the manner of Prometheus's run groups: each actor
// is a blocking execute and an interrupt that makes it return.
type runGroup struct {
	actors []actor
}

type actor struct {
	execute   func() error
	interrupt func(error)
}

func (g *runGroup) add(execute func() error, interrupt func(error)) {
	g.actors = append(g.actors, actor{execute, interrupt})
}

// addContext adds an actor driven by a context that is cancelled on interrupt.
func (g *runGroup) addContext(parent context.Context, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	g.add(func() error { return run(ctx) }, func(error) { cancel() })
}

// run returns the error of the first actor to return.
func (g *runGroup) run() error {
	if len(g.actors) == 0 {
		return nil
	}
	errs := make(chan error, len(g.actors))
	for _, a := range g.actors {
		go func(a actor) { errs <- a.execute() }(a)
	}
	err := <-errs
	for _, a := range g.actors {
		a.interrupt(err)
	}
	for i := 1; i < len(g.actors); i++ {
		<-errs
	}
	return err
}
