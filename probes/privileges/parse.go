package privileges

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/kprobe/kprobe/probes"
)

// Status holds the lines of /proc/self/status this package uses. A field
// whose line was absent or malformed is not in Present: gVisor, for one,
// omits NoNewPrivs and Seccomp_filters altogether.
type Status struct {
	// UID and GID are real, effective, saved and filesystem IDs.
	UID, GID [4]int64
	// Capability masks as printed by the kernel (hex, bit n = capability n).
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	// Seccomp is 0 (disabled), 1 (strict) or 2 (filter).
	Seccomp int64
	// SeccompFilters counts attached filters (Linux 5.9+).
	SeccompFilters int64
	// NoNewPrivs is the no_new_privs bit (Linux 4.10+).
	NoNewPrivs int64
	// Present names the fields above that were read, by their status
	// line name ("Uid", "CapEff", "Seccomp_filters", ...).
	Present map[string]bool
}

// Has reports whether the status line name was present and well-formed.
func (s Status) Has(name string) bool { return s.Present[name] }

// ParseStatus parses /proc/<pid>/status. Lines it does not use are
// ignored; a malformed line it uses is left out of Present and named in
// the returned error, while every other field is still filled in.
func ParseStatus(r io.Reader) (Status, error) {
	s := Status{Present: map[string]bool{}}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Uid":
			s.UID, err = parseIDs(val)
		case "Gid":
			s.GID, err = parseIDs(val)
		case "CapInh":
			s.CapInh, err = ParseCapMask(val)
		case "CapPrm":
			s.CapPrm, err = ParseCapMask(val)
		case "CapEff":
			s.CapEff, err = ParseCapMask(val)
		case "CapBnd":
			s.CapBnd, err = ParseCapMask(val)
		case "CapAmb":
			s.CapAmb, err = ParseCapMask(val)
		case "Seccomp":
			s.Seccomp, err = parseSmallInt(val)
		case "Seccomp_filters":
			s.SeccompFilters, err = parseSmallInt(val)
		case "NoNewPrivs":
			s.NoNewPrivs, err = parseSmallInt(val)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("status line %s: %w", key, err))
			continue
		}
		s.Present[key] = true
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

func parseIDs(val string) ([4]int64, error) {
	var ids [4]int64
	f := strings.Fields(val)
	if len(f) != 4 {
		return ids, fmt.Errorf("want 4 IDs, got %q", val)
	}
	for i, x := range f {
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return ids, err
		}
		ids[i] = int64(n)
	}
	return ids, nil
}

func parseSmallInt(val string) (int64, error) {
	n, err := strconv.ParseUint(val, 10, 31)
	return int64(n), err
}

// ParseCapMask parses a capability mask as /proc/<pid>/status prints it:
// 16 hex digits, for example "000001fffeffffff".
func ParseCapMask(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("capability mask %q is not 1-16 hex digits", s)
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("capability mask %q is not hex", s)
		}
	}
	return strconv.ParseUint(s, 16, 64)
}

// CapNames lists the capabilities set in mask by their moby/sys/capability
// names ("chown", "sys_admin"), in bit order. Bits the library does not
// know (a kernel newer than it) are named "cap_<bit>".
func CapNames(mask uint64) []string {
	known := map[capability.Cap]bool{}
	for _, c := range capability.ListKnown() {
		known[c] = true
	}
	names := []string{}
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<uint(bit)) == 0 {
			continue
		}
		c := capability.Cap(bit)
		if known[c] {
			names = append(names, c.String())
		} else {
			names = append(names, "cap_"+strconv.Itoa(bit))
		}
	}
	return names
}

// HasCap reports whether mask holds capability c.
func HasCap(mask uint64, c capability.Cap) bool {
	return c >= 0 && c < 64 && mask&(1<<uint(c)) != 0
}

// IDRange is one line of /proc/<pid>/uid_map or gid_map.
type IDRange struct {
	Inside, Outside, Count uint32
}

// ParseIDMap parses uid_map or gid_map text. An empty map (a fresh user
// namespace nobody has written yet) gives no ranges and no error.
func ParseIDMap(text string) ([]IDRange, error) {
	var out []IDRange
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return out, fmt.Errorf("id map line %q does not have 3 fields", line)
		}
		var n [3]uint32
		for i, x := range f {
			v, err := strconv.ParseUint(x, 10, 32)
			if err != nil {
				return out, fmt.Errorf("id map line %q: %w", line, err)
			}
			n[i] = uint32(v)
		}
		out = append(out, IDRange{Inside: n[0], Outside: n[1], Count: n[2]})
	}
	return out, nil
}

// FormatIDMap renders ranges on one line: "0 1001 1, 1 100000 65536".
func FormatIDMap(m []IDRange) string {
	parts := make([]string, len(m))
	for i, r := range m {
		parts[i] = fmt.Sprintf("%d %d %d", r.Inside, r.Outside, r.Count)
	}
	return strings.Join(parts, ", ")
}

// InUserNS applies moby/sys/userns's uid_map rule to the text of
// /proc/self/uid_map: the initial user namespace, and only it, maps
// "0 0 4294967295"; an empty map is a fresh user namespace. Unlike moby,
// text that does not parse gives Unknown instead of "not in a userns".
//
// moby first compares the inode of /proc/self/ns/user with the initial
// namespace's; kprobe uses the map text alone so that the answer replays
// from a captured tree.
func InUserNS(uidMap string) probes.Tri {
	if strings.TrimSpace(uidMap) == "" {
		return probes.Yes
	}
	var first string
	for _, line := range strings.Split(uidMap, "\n") {
		if strings.TrimSpace(line) != "" {
			first = line
			break
		}
	}
	m, err := ParseIDMap(first)
	if err != nil || len(m) == 0 {
		return probes.Unknown
	}
	r := m[0]
	return probes.TriOf(!(r.Inside == 0 && r.Outside == 0 && r.Count == 4294967295))
}

// Seccomp mode names of priv.seccomp.
const (
	SeccompDisabled   = "disabled"
	SeccompStrict     = "strict"
	SeccompFilter     = "filter"
	SeccompUnreliable = "unreliable"
)

// SeccompMode names the seccomp state a status shows, and says why when the
// answer is "unreliable" or cannot be given (""). gVisor prints
// "Seccomp: 0" whatever the policy and omits NoNewPrivs and
// Seccomp_filters; a real kernel since 5.9 prints all three. A mode of 1 or
// 2 is believed even without the other lines: it cannot be gVisor's
// constant 0, and Linux 4.x before 4.10 lacks both lines.
func SeccompMode(s Status) (mode, why string) {
	if !s.Has("Seccomp") {
		return "", "no Seccomp line in status"
	}
	var name string
	switch s.Seccomp {
	case 0:
		name = SeccompDisabled
	case 1:
		name = SeccompStrict
	case 2:
		name = SeccompFilter
	default:
		return "", fmt.Sprintf("Seccomp: %d is not a known mode", s.Seccomp)
	}
	if !s.Has("NoNewPrivs") && !s.Has("Seccomp_filters") && s.Seccomp == 0 {
		return SeccompUnreliable, "Seccomp: 0 with no NoNewPrivs and no Seccomp_filters line: gVisor prints this whatever the real policy, so seccomp cannot be read here"
	}
	return name, ""
}

// AppArmorLabel classifies the text of an LSM "current" attribute as an
// AppArmor label ("unconfined", "docker-default (enforce)") or not (an
// SELinux context such as "system_u:system_r:container_t:s0", a Smack
// label).
func AppArmorLabel(attr string) (label string, ok bool) {
	label = strings.TrimRight(attr, "\x00\n ")
	if label == "unconfined" {
		return label, true
	}
	open := strings.LastIndex(label, " (")
	if open <= 0 || !strings.HasSuffix(label, ")") {
		return label, false
	}
	switch label[open+2 : len(label)-1] {
	case "enforce", "complain", "kill", "unconfined", "prompt", "user":
		return label, true
	}
	return label, false
}

// SELinuxContext reports whether an LSM "current" attribute looks like an
// SELinux context (user:role:type[:level]).
func SELinuxContext(attr string) bool {
	label := strings.TrimRight(attr, "\x00\n ")
	return strings.Count(label, ":") >= 2 && !strings.ContainsAny(label, " \t")
}
