package outbox

// peekNextID returns the ID the next Append will get (tests only).
func (o *Outbox) peekNextID() ID {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.nextID
}
