package ingest

// TakeoverAttempts reports how many takeover connections this worker has
// opened, for tests.
func (in *Ingest) TakeoverAttempts() int64 { return in.drains.Load() }

// TakeoversRunning reports how many takeovers this worker is running.
func (in *Ingest) TakeoversRunning() int {
	in.peers.mu.Lock()
	defer in.peers.mu.Unlock()
	return len(in.peers.running)
}

// AlivePeers reports how many other workers this worker knows alive.
func (in *Ingest) AlivePeers() int {
	in.peers.mu.Lock()
	defer in.peers.mu.Unlock()
	n := 0
	for _, a := range in.peers.alive {
		if a {
			n++
		}
	}
	return n
}
