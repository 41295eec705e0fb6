package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// chanNotifier signals once per value sent on its source, the way the
// Windows registry notifier signals once per re-armed wait.
type chanNotifier struct {
	src chan struct{}
	err error
}

func (n chanNotifier) Notify(ctx context.Context, changed chan<- struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-n.src:
			if !ok {
				return n.err
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}

func TestFollowNotifierPokesWorker(t *testing.T) {
	tests := []struct {
		name    string
		signals int
		err     error
	}{
		{"signals then context ends", 3, nil},
		{"notifier fails", 2, errors.New("RegNotifyChangeKeyValue: access denied")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := make(chan struct{})
			var pokes atomic.Int32
			poked := make(chan struct{}, 16)
			done := make(chan struct{})
			go func() {
				defer close(done)
				followNotifier(ctx, chanNotifier{src: src, err: tt.err}, func() { pokes.Add(1); poked <- struct{}{} }, slog.New(slog.DiscardHandler))
			}()
			for i := 0; i < tt.signals; i++ {
				src <- struct{}{}
				select {
				case <-poked:
				case <-time.After(10 * time.Second):
					t.Fatalf("signal %d did not poke the worker", i+1)
				}
			}
			if tt.err != nil {
				close(src) // the notifier returns its error; followNotifier keeps running until ctx ends
			}
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("followNotifier did not return after the context ended")
			}
			if got := pokes.Load(); got != int32(tt.signals) {
				t.Fatalf("pokes = %d, want %d", got, tt.signals)
			}
		})
	}
}
