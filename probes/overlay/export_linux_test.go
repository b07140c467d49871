//go:build linux

package overlay

// SetSeparateUserns makes every user namespace trial run in a grandchild
// of its own (as before they shared one) until the returned func is
// called.
func SetSeparateUserns(on bool) (restore func()) {
	old := separateUserns
	separateUserns = on
	return func() { separateUserns = old }
}
