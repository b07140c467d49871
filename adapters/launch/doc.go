// Package launch brings a planned cluster up and proves it works: it
// checks that nothing is in the way, writes the certificates and the
// rendered files, starts a detached supervisor, imports the images that no
// registry can provide, and waits for real readiness (the API's /readyz,
// the node Ready, a probe pod Running), recording how long each phase
// took. Stop reverses all of it.
package launch
