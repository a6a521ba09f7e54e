package pac

import (
	"context"
	"errors"
	"fmt"

	"github.com/dop251/goja"
)

// runtime is one goja runtime with the helpers installed and the script's
// top level run. It serves one goroutine at a time: the one that took it
// from Script.idle (or made it).
type runtime struct {
	s   *Script
	vm  *goja.Runtime
	ctx context.Context // the evaluation under way, set by runLocked; bounds DNS helpers
}

// newRuntime makes a runtime and runs the script's top level on it, within
// ctx. The caller holds a slot for it; on error the slot is released.
func (s *Script) newRuntime(ctx context.Context) (*runtime, error) {
	rt := &runtime{s: s, vm: goja.New()}
	rt.vm.SetTimeSource(s.opts.now)
	if err := rt.install(); err != nil {
		<-s.slots
		return nil, &ScriptError{Phase: "load", Err: err}
	}
	err := s.runLocked(ctx, rt, func() error {
		_, err := rt.vm.RunProgram(s.prog)
		return err
	})
	if err != nil {
		var te *timeoutError
		if !errors.As(err, &te) { // a timeout released the slot already
			<-s.slots
		}
		return nil, &ScriptError{Phase: "load", Err: err}
	}
	return rt, nil
}

// get takes an idle runtime, or makes one while fewer than Options.Runtimes
// exist, or waits for one until ctx ends.
func (s *Script) get(ctx context.Context) (*runtime, error) {
	if int(s.stuck.Load()) >= s.opts.maxStuck() {
		return nil, ErrTooManyStuck
	}
	select {
	case rt := <-s.idle:
		return rt, nil
	default:
	}
	select {
	case rt := <-s.idle:
		return rt, nil
	case s.slots <- struct{}{}:
		rt, err := s.newRuntime(ctx)
		if err != nil {
			return nil, err
		}
		return rt, nil
	case <-ctx.Done():
		return nil, timeoutErr(ctx)
	}
}

// run runs fn on rt within ctx and gives rt back to the pool, unless fn
// overran ctx: then rt is interrupted and discarded, never reused (a builtin
// may ignore the interrupt and keep running; its goroutine is counted in
// stuck until it returns), and its slot is freed for a fresh runtime.
func (s *Script) run(ctx context.Context, rt *runtime, fn func() error) error {
	err := s.runLocked(ctx, rt, fn)
	var te *timeoutError
	if !errors.As(err, &te) {
		s.idle <- rt
	}
	return err
}

// runLocked runs fn on its own goroutine so that the caller can leave at the
// deadline even when fn does not. On a timeout rt's slot is released.
func (s *Script) runLocked(ctx context.Context, rt *runtime, fn func() error) error {
	rt.ctx = ctx
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("pac: panic in script evaluation: %v", p)
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	rt.vm.Interrupt(ErrTimeout)
	s.stuck.Add(1)
	go func() {
		<-done
		s.stuck.Add(-1)
	}()
	<-s.slots
	return &timeoutError{timeoutErr(ctx)}
}

// timeoutError marks an evaluation abandoned at its deadline.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string { return e.err.Error() }
func (e *timeoutError) Unwrap() error { return e.err }

// timeoutErr is ErrTimeout for an evaluation's own deadline, or the
// caller's context error when the caller gave up first.
func timeoutErr(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}
