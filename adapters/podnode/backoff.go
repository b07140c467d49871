package podnode

import "time"

// The kubelet's container restart back-off: the first restart at once,
// then 10 s, doubled after every restart up to 5 minutes, and forgotten once
// a container has run for twice the maximum (10 minutes) without exiting.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 2 * backoffMax
)

// backoff is one container's restart delay.
type backoff struct {
	next time.Duration
}

// delay returns how long to wait before restarting a container that ran
// for ranFor, and advances the back-off.
func (b *backoff) delay(ranFor time.Duration) time.Duration {
	if ranFor >= backoffReset {
		b.next = 0
	}
	d := b.next
	switch {
	case b.next == 0:
		b.next = backoffInitial
	case b.next < backoffMax:
		b.next = min(2*b.next, backoffMax)
	}
	return d
}
