package evidence

import (
	"context"
	"sync"
)

// MemStore is a Store in memory: for dry runs ("what would this file
// yield?") and tests. It keeps every committed observation.
type MemStore struct {
	mu          sync.Mutex
	checkpoints map[string]Checkpoint
	obs         []Observation
	commits     int
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{checkpoints: make(map[string]Checkpoint)} }

// LoadCheckpoint implements Store.
func (m *MemStore) LoadCheckpoint(_ context.Context, key string) (Checkpoint, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp, ok := m.checkpoints[key]
	return cp, ok, nil
}

// Commit implements Store.
func (m *MemStore) Commit(_ context.Context, obs []Observation, cp Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.obs = append(m.obs, obs...)
	m.checkpoints[cp.Key] = cp
	m.commits++
	return nil
}

// Observations returns a copy of everything committed so far.
func (m *MemStore) Observations() []Observation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Observation(nil), m.obs...)
}

// Commits returns how many batches were committed.
func (m *MemStore) Commits() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits
}
