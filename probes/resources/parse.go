package resources

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/probes/procfs"
)

// maxCPUs bounds CPU numbers in a list, far above any real machine.
const maxCPUs = 1 << 16

// ParseCPUList counts the CPUs of a kernel CPU list such as
// /sys/devices/system/cpu/online: "0-3,6,8-9" gives 7.
func ParseCPUList(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty CPU list")
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a >= maxCPUs {
			return 0, fmt.Errorf("CPU list %q: bad number %q", s, lo)
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
			if err != nil || b < a || b >= maxCPUs {
				return 0, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		n += b - a + 1
		if n > maxCPUs {
			return 0, fmt.Errorf("CPU list %q: too many CPUs", s)
		}
	}
	return n, nil
}

// CountCPUInfo counts the "processor" entries of /proc/cpuinfo (x86 and
// arm64 both start each CPU with one).
func CountCPUInfo(r io.Reader) (int, error) {
	n := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, _, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "processor" {
			n++
		}
	}
	return n, sc.Err()
}

// ParseMeminfo returns the fields of /proc/meminfo in bytes ("kB" values
// are multiplied by 1024; unit-less ones such as HugePages_Total are kept).
func ParseMeminfo(r io.Reader) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			if n > (1<<63-1)/1024 {
				continue
			}
			n *= 1024
		}
		out[strings.TrimSpace(k)] = n
	}
	return out, sc.Err()
}

// Limit is one row of /proc/<pid>/limits; -1 means unlimited.
type Limit struct {
	Soft, Hard int64
}

// ParseLimits returns the rows of /proc/self/limits keyed by name
// ("Max open files", "Max processes").
func ParseLimits(r io.Reader) (map[string]Limit, error) {
	out := map[string]Limit{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Max ") {
			continue
		}
		// The name column is 26 wide, but names contain spaces: find the
		// first field that is a number or "unlimited".
		f := strings.Fields(line)
		i := 1
		for i < len(f) && !isLimitValue(f[i]) {
			i++
		}
		if i+1 >= len(f) {
			continue
		}
		soft, err1 := limitValue(f[i])
		hard, err2 := limitValue(f[i+1])
		if err1 != nil || err2 != nil {
			continue
		}
		out[strings.Join(f[:i], " ")] = Limit{Soft: soft, Hard: hard}
	}
	return out, sc.Err()
}

func isLimitValue(s string) bool {
	_, err := limitValue(s)
	return err == nil
}

func limitValue(s string) (int64, error) {
	if s == "unlimited" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n < 0 {
		return 0, fmt.Errorf("negative limit %d", n)
	}
	return n, err
}

// CgroupPaths parses /proc/self/cgroup into controller -> path; the
// cgroup v2 entry ("0::/path") is keyed "".
func CgroupPaths(r io.Reader) (map[string]string, error) {
	ms, err := procfs.ParseCgroup(r)
	var abs []procfs.CgroupMember
	for _, m := range ms {
		if strings.HasPrefix(m.Path, "/") {
			abs = append(abs, m)
		}
	}
	return procfs.CgroupPaths(abs), err
}

// ParseCPUMax parses cgroup v2 cpu.max ("max 100000" or "150000 100000")
// and returns quota and period in microseconds; quota is -1 for "max".
func ParseCPUMax(s string) (quota, period int64, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("cpu.max %q: want two fields", strings.TrimSpace(s))
	}
	period, err = strconv.ParseInt(f[1], 10, 64)
	if err != nil || period <= 0 {
		return 0, 0, fmt.Errorf("cpu.max %q: bad period", strings.TrimSpace(s))
	}
	if f[0] == "max" {
		return -1, period, nil
	}
	quota, err = strconv.ParseInt(f[0], 10, 64)
	if err != nil || quota <= 0 {
		return 0, 0, fmt.Errorf("cpu.max %q: bad quota", strings.TrimSpace(s))
	}
	return quota, period, nil
}

// QuotaCPUs rounds a CFS quota up to whole CPUs: a quota of 1.5 CPUs lets
// two threads run.
func QuotaCPUs(quota, period int64) int64 {
	if quota <= 0 || period <= 0 {
		return 0
	}
	n := quota / period
	if quota%period != 0 {
		n++
	}
	return n
}
