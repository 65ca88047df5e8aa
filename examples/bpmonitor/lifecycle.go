package main

import (
	"context"
	"errors"
	"sync"
)

// lifecycle closes what a mode started, in reverse order, once.
type lifecycle struct {
	mu      sync.Mutex
	closers []namedCloser
	wg      sync.WaitGroup
}

type namedCloser struct {
	name string
	fn   func(context.Context) error
}

// onClose registers fn to run at shutdown, before everything registered earlier.
func (l *lifecycle) onClose(name string, fn func(context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, namedCloser{name, fn})
}

// goRun runs fn in a goroutine that shutdown waits for.
func (l *lifecycle) goRun(fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn()
	}()
}

// shutdown closes everything in reverse order within ctx, then waits for the
// goroutines started with goRun. It returns the joined close errors.
func (l *lifecycle) shutdown(ctx context.Context) error {
	l.mu.Lock()
	cs := l.closers
	l.closers = nil
	l.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, errors.New(cs[i].name+": "+err.Error()))
		}
	}
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("shutdown: goroutines still running"))
	}
	return errors.Join(errs...)
}
