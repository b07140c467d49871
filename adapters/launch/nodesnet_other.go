//go:build !linux

package launch

import "errors"

func nodesLinks([]Worker) error { return errors.New("--nodes needs Linux") }
