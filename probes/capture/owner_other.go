//go:build !unix

package capture

import "io/fs"

// owner is unknown where files carry no uid.
func owner(fs.FileInfo) (int, bool) { return 0, false }
