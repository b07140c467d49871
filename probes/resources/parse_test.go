package resources

import (
	"strings"
	"testing"
)

// Real dumps from the Debian 12 Firecracker VM.
const (
	hostMeminfo = `MemTotal:       24684092 kB
MemFree:        22406156 kB
MemAvailable:   24142596 kB
Buffers:           50360 kB
Cached:          1813572 kB
SwapCached:            0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`
	hostLimits = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            20000                20000                files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       96365                96365                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
`
	hostCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/8abd31263f83a71fa43c1a14c91bfe25
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`
	hostCPUInfo = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 26
model name	: AMD EPYC

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 26
model name	: AMD EPYC
`
)

func TestParseCPUList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0-1\n", 2, true},
		{"0", 1, true},
		{"0-3,6,8-9", 7, true},
		{"", 0, false},
		{"3-1", 0, false},
		{"a", 0, false},
		{"0-99999999", 0, false},
	} {
		got, err := ParseCPUList(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("%q: got %d, %v", tt.in, got, err)
		}
	}
}

func TestCountCPUInfo(t *testing.T) {
	if n, err := CountCPUInfo(strings.NewReader(hostCPUInfo)); n != 2 || err != nil {
		t.Errorf("got %d, %v", n, err)
	}
}

func TestParseMeminfo(t *testing.T) {
	m, err := ParseMeminfo(strings.NewReader(hostMeminfo))
	if err != nil {
		t.Fatal(err)
	}
	if m["MemTotal"] != 24684092*1024 || m["SwapTotal"] != 0 || m["HugePages_Total"] != 0 || m["Hugepagesize"] != 2048*1024 {
		t.Errorf("got %v", m)
	}
	if _, ok := m["SwapTotal"]; !ok {
		t.Error("SwapTotal 0 missing")
	}
}

func TestParseLimits(t *testing.T) {
	ls, err := ParseLimits(strings.NewReader(hostLimits))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Limit{
		"Max open files": {20000, 20000}, "Max processes": {96365, 96365},
		"Max cpu time": {-1, -1}, "Max stack size": {8388608, -1}, "Max nice priority": {0, 0},
	}
	for k, v := range want {
		if ls[k] != v {
			t.Errorf("%s = %+v, want %+v", k, ls[k], v)
		}
	}
	if len(ls) != 16 {
		t.Errorf("%d rows, want 16: %v", len(ls), ls)
	}
}

func TestCgroupPaths(t *testing.T) {
	got, err := CgroupPaths(strings.NewReader(hostCgroup + "10:cpu,cpuacct:/docker/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["memory"] != "/process_api/8abd31263f83a71fa43c1a14c91bfe25" || got[""] != "/" ||
		got["cpu"] != "/docker/x" || got["cpuacct"] != "/docker/x" || got["name=systemd"] != "/" {
		t.Errorf("got %v", got)
	}
	// gVisor: /proc/self/cgroup is empty.
	if got, _ := CgroupPaths(strings.NewReader("")); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestParseCPUMax(t *testing.T) {
	for _, tt := range []struct {
		in        string
		q, p      int64
		ok        bool
		wantCPUs  int64
		checkCPUs bool
	}{
		{"max 100000\n", -1, 100000, true, 0, true},
		{"150000 100000", 150000, 100000, true, 2, true},
		{"50000 100000", 50000, 100000, true, 1, true},
		{"max", 0, 0, false, 0, false},
		{"1 0", 0, 0, false, 0, false},
		{"-5 100000", 0, 0, false, 0, false},
	} {
		q, p, err := ParseCPUMax(tt.in)
		if q != tt.q || p != tt.p || (err == nil) != tt.ok {
			t.Errorf("%q: got %d %d %v", tt.in, q, p, err)
		}
		if tt.checkCPUs && QuotaCPUs(q, p) != tt.wantCPUs {
			t.Errorf("%q: %d CPUs, want %d", tt.in, QuotaCPUs(q, p), tt.wantCPUs)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-1", "0-3,6,8-9", "", "5-", "-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPUList(s)
		if err == nil && (n <= 0 || n > maxCPUs) {
			t.Fatalf("%q: %d CPUs", s, n)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add(hostMeminfo)
	f.Add("MemTotal: 99999999999999999999 kB\nX: -1 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, _ := ParseMeminfo(strings.NewReader(s))
		for k, v := range m {
			if v < 0 {
				t.Fatalf("%s = %d", k, v)
			}
		}
	})
}

func FuzzParseLimits(f *testing.F) {
	f.Add(hostLimits)
	f.Add("Max open files -1 5\nMax x unlimited")
	f.Fuzz(func(t *testing.T, s string) {
		ls, _ := ParseLimits(strings.NewReader(s))
		for k, l := range ls {
			if l.Soft < -1 || l.Hard < -1 || !strings.HasPrefix(k, "Max") {
				t.Fatalf("%q: %+v", k, l)
			}
		}
	})
}

func FuzzCgroupPaths(f *testing.F) {
	f.Add(hostCgroup)
	f.Fuzz(func(t *testing.T, s string) {
		m, _ := CgroupPaths(strings.NewReader(s))
		for _, p := range m {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("path %q", p)
			}
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	f.Add("max 100000")
	f.Add("150000 100000")
	f.Fuzz(func(t *testing.T, s string) {
		q, p, err := ParseCPUMax(s)
		if err == nil && (p <= 0 || (q != -1 && q <= 0) || QuotaCPUs(q, p) < 0) {
			t.Fatalf("%q: %d %d", s, q, p)
		}
	})
}

func FuzzCountCPUInfo(f *testing.F) {
	f.Add(hostCPUInfo)
	f.Fuzz(func(t *testing.T, s string) {
		n, _ := CountCPUInfo(strings.NewReader(s))
		if n < 0 || n > strings.Count(s, ":") {
			t.Fatalf("%d", n)
		}
	})
}
