//go:build !linux

package podnode

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"syscall"

	"github.com/kprobe/kprobe/adapters/bindtrace"
)

var errNotLinux = errors.New("podnode: process pods need Linux")

// RegisterInit does nothing off Linux.
func RegisterInit() {}

func inUnmappedUserNS() bool { return false }

type procSpec struct {
	Mode     Isolation
	Root     string
	NewNS    bool
	Mounts   []bindMount
	Hostname string
	Dir      string
	Argv     []string
	Env      []string
	UID, GID int64
	Probe    bool
	OwnAddr  string
	Keep     []netip.AddrPort
	Shift    bindtrace.Shift
	Exe      string
	RootFD   int
}

type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

type process struct{}

func startProcess(procSpec, io.Reader, io.Writer, io.Writer, *os.File) (*process, error) {
	return nil, errNotLinux
}
func (p *process) signal(syscall.Signal)                           {}
func (p *process) signalGroup(syscall.Signal)                      {}
func (p *process) pid() int                                        { return 0 }
func (p *process) wait() (int, error)                              { return -1, errNotLinux }
func fsSize(string) int64                                          { return 0 }
func openPTY() (*os.File, *os.File, error)                         { return nil, nil, errNotLinux }
func resizePTY(*os.File, uint16, uint16)                           {}
func makeDevNodes(string)                                          {}
func checkOwnBinds(netip.Addr) error                               { return errNotLinux }
func hasCapSysAdmin() bool                                         { return false }
func ChooseIsolation(Isolation, string) (Isolation, string, error) { return "", "", errNotLinux }
