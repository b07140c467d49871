package privileges

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// hostStatus is /proc/self/status of `cat` on the Firecracker host
// (kernel 6.18.44-fc, root, every capability but CAP_SYS_RESOURCE).
const hostStatus = `Name:	cat
Umask:	0022
State:	R (running)
Tgid:	9755
Ngid:	0
Pid:	9755
PPid:	9704
TracerPid:	0
Uid:	0	0	0	0
Gid:	0	0	0	0
FDSize:	256
Groups:	 
NStgid:	9755
NSpid:	9755
NSpgid:	9704
NSsid:	3172
Kthread:	0
VmPeak:	    3060 kB
VmSize:	    3060 kB
VmLck:	       0 kB
VmPin:	       0 kB
VmHWM:	    1704 kB
VmRSS:	    1704 kB
RssAnon:	     116 kB
RssFile:	    1588 kB
RssShmem:	       0 kB
VmData:	     360 kB
VmStk:	     132 kB
VmExe:	      20 kB
VmLib:	    1528 kB
VmPTE:	      48 kB
VmSwap:	       0 kB
HugetlbPages:	       0 kB
CoreDumping:	0
THP_enabled:	1
untag_mask:	0xffffffffffffffff
Threads:	1
SigQ:	0/96365
SigPnd:	0000000000000000
ShdPnd:	0000000000000000
SigBlk:	0000000000000000
SigIgn:	0000000000000000
SigCgt:	0000000000000000
CapInh:	0000000000000000
CapPrm:	000001fffeffffff
CapEff:	000001fffeffffff
CapBnd:	000001fffeffffff
CapAmb:	0000000000000000
NoNewPrivs:	0
Seccomp:	0
Seccomp_filters:	0
Speculation_Store_Bypass:	vulnerable
SpeculationIndirectBranch:	always enabled
Cpus_allowed:	3
Cpus_allowed_list:	0-1
Mems_allowed:	00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001
Mems_allowed_list:	0
voluntary_ctxt_switches:	0
nonvoluntary_ctxt_switches:	0
`

// gvisorStatus is the shape of /proc/self/status under runsc 20221219
// (sandbox-zoo.md, gvisor-do): Seccomp is 0 and NoNewPrivs and
// Seccomp_filters are missing.
const gvisorStatus = `Name:	sh
State:	R (running)
Tgid:	1
Pid:	1
PPid:	0
TracerPid:	0
Uid:	0	0	0	0
Gid:	0	0	0	0
FDSize:	64
Groups:	
VmSize:	    2580 kB
VmRSS:	     900 kB
Threads:	1
CapInh:	0000000000000000
CapPrm:	0000003fffffdfff
CapEff:	0000003fffffdfff
CapBnd:	0000003fffffdfff
Seccomp:	0
Cpus_allowed:	3
Mems_allowed:	00000000,00000001
Mems_allowed_list:	0
voluntary_ctxt_switches:	0
nonvoluntary_ctxt_switches:	0
`

// nobodyStatus is the real status of `setpriv --reuid 65534 --regid 65534
// --clear-groups --no-new-privs` on the host (the lines this package reads).
const nobodyStatus = `Uid:	65534	65534	65534	65534
Gid:	65534	65534	65534	65534
CapInh:	0000000000000000
CapPrm:	0000000000000000
CapEff:	0000000000000000
CapBnd:	000001fffeffffff
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	0
Seccomp_filters:	0
`

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name            string
		text            string
		uid             [4]int64
		eff, bnd        uint64
		seccomp         string
		hasNNP, hasFilt bool
		nnp             int64
	}{
		{"host", hostStatus, [4]int64{0, 0, 0, 0}, 0x1fffeffffff, 0x1fffeffffff, "disabled", true, true, 0},
		{"gvisor", gvisorStatus, [4]int64{0, 0, 0, 0}, 0x3fffffdfff, 0x3fffffdfff, "unreliable", false, false, 0},
		{"nobody", nobodyStatus, [4]int64{65534, 65534, 65534, 65534}, 0, 0x1fffeffffff, "disabled", true, true, 1},
		{"docker-like", "Uid:\t0\t0\t0\t0\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n",
			[4]int64{}, 0xa80425fb, 0xa80425fb, "filter", true, true, 0},
		// Linux 4.4: no NoNewPrivs or Seccomp_filters line, but a
		// positive Seccomp mode is believed.
		{"old-kernel-filter", "Uid:\t0\t0\t0\t0\nCapEff:\t0000003fffffffff\nCapBnd:\t0000003fffffffff\nSeccomp:\t2\n",
			[4]int64{}, 0x3fffffffff, 0x3fffffffff, "filter", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if st.UID != tt.uid || st.CapEff != tt.eff || st.CapBnd != tt.bnd {
				t.Errorf("uid %v eff %x bnd %x, want %v %x %x", st.UID, st.CapEff, st.CapBnd, tt.uid, tt.eff, tt.bnd)
			}
			if mode, why := SeccompMode(st); mode != tt.seccomp {
				t.Errorf("seccomp %q (%s), want %q", mode, why, tt.seccomp)
			}
			if st.Has("NoNewPrivs") != tt.hasNNP || st.Has("Seccomp_filters") != tt.hasFilt || st.NoNewPrivs != tt.nnp {
				t.Errorf("NoNewPrivs %v/%d Seccomp_filters %v", st.Has("NoNewPrivs"), st.NoNewPrivs, st.Has("Seccomp_filters"))
			}
		})
	}
}

func TestParseStatusMalformed(t *testing.T) {
	st, err := ParseStatus(strings.NewReader("Uid:\t0\t0\nCapEff:\tzz\nCapBnd:\t000001fffeffffff\nSeccomp:\t-1\n"))
	if err == nil {
		t.Fatal("want an error for the malformed lines")
	}
	for _, bad := range []string{"Uid", "CapEff", "Seccomp"} {
		if st.Has(bad) {
			t.Errorf("malformed %s marked present", bad)
		}
	}
	if !st.Has("CapBnd") || st.CapBnd != 0x1fffeffffff {
		t.Errorf("the good CapBnd line was lost: %x", st.CapBnd)
	}
	if mode, _ := SeccompMode(st); mode != "" {
		t.Errorf("seccomp mode %q from a malformed line", mode)
	}
}

// TestCapNames checks the CapEff masks of sandbox-zoo.md decode to the
// capability counts measured there.
func TestCapNames(t *testing.T) {
	tests := []struct {
		sandbox  string
		mask     string
		n        int
		has, not []string
	}{
		{"host", "000001fffeffffff", 40, []string{"sys_admin", "net_admin", "checkpoint_restore"}, []string{"sys_resource"}},
		{"gvisor-do", "0000003fffffdfff", 37, []string{"sys_admin", "sys_resource"}, []string{"net_raw", "perfmon", "bpf", "checkpoint_restore"}},
		{"gvisor-run", "00000000a80405fb", 13, []string{"chown", "setfcap", "mknod"}, []string{"net_raw", "sys_admin"}},
		{"runc-docker", "00000000a80425fb", 14, []string{"net_raw", "mknod", "audit_write"}, []string{"sys_admin", "net_admin"}},
		{"podman", "00000000800405fb", 11, []string{"setfcap", "chown"}, []string{"mknod", "net_raw", "sys_admin"}},
		{"runc-rootless", "0000000020000420", 3, []string{"kill", "net_bind_service", "audit_write"}, []string{"sys_admin"}},
		{"bwrap", "0000000000000000", 0, nil, []string{"sys_admin"}},
		{"userns", "000001ffffffffff", 41, []string{"sys_admin", "sys_resource", "checkpoint_restore"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.sandbox, func(t *testing.T) {
			m, err := ParseCapMask(tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			names := CapNames(m)
			if len(names) != tt.n {
				t.Errorf("%d caps %v, want %d", len(names), names, tt.n)
			}
			for _, h := range tt.has {
				if !slices.Contains(names, h) {
					t.Errorf("missing %s in %v", h, names)
				}
			}
			for _, h := range tt.not {
				if slices.Contains(names, h) {
					t.Errorf("unexpected %s in %v", h, names)
				}
			}
		})
	}
	if got := CapNames(1 << 63); !slices.Equal(got, []string{"cap_63"}) {
		t.Errorf("unknown bit named %v", got)
	}
	for _, bad := range []string{"", "xyz", "00000000000000000", "-1", "+1", "0x1f"} {
		if _, err := ParseCapMask(bad); err == nil {
			t.Errorf("ParseCapMask(%q) accepted", bad)
		}
	}
}

func TestInUserNS(t *testing.T) {
	tests := []struct {
		sandbox, uidMap string
		want            probes.Tri
	}{
		{"host (real, padded)", "         0          0 4294967295\n", probes.No},
		{"userns-root (real)", "         0          0          1\n", probes.Yes},
		{"userns-user", "0 1001 1\n", probes.Yes},
		{"bwrap", "1001 1001 1\n", probes.Yes},
		{"podman-rootless", "         0       1001          1\n         1     100000      65536\n", probes.Yes},
		{"fresh userns (empty map)", "", probes.Yes},
		{"garbage", "not a map\n", probes.Unknown},
		{"too large", "0 0 4294967296\n", probes.Unknown},
	}
	for _, tt := range tests {
		if got := InUserNS(tt.uidMap); got != tt.want {
			t.Errorf("%s: InUserNS(%q) = %v, want %v", tt.sandbox, tt.uidMap, got, tt.want)
		}
	}
}

func TestParseIDMap(t *testing.T) {
	m, err := ParseIDMap("         0       1001          1\n         1     100000      65536\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []IDRange{{0, 1001, 1}, {1, 100000, 65536}}
	if !slices.Equal(m, want) {
		t.Errorf("got %v, want %v", m, want)
	}
	if s := FormatIDMap(m); s != "0 1001 1, 1 100000 65536" {
		t.Errorf("FormatIDMap = %q", s)
	}
	for _, bad := range []string{"0 0\n", "0 0 1 2\n", "a b c\n", "0 0 -1\n"} {
		if _, err := ParseIDMap(bad); err == nil {
			t.Errorf("ParseIDMap(%q) accepted", bad)
		}
	}
}

func TestLSMLabels(t *testing.T) {
	for _, tt := range []struct {
		attr      string
		apparmor  bool
		label     string
		isSELinux bool
	}{
		{"unconfined\n", true, "unconfined", false},
		{"docker-default (enforce)\n", true, "docker-default (enforce)", false},
		{"containers-default-0.50.1 (enforce)", true, "containers-default-0.50.1 (enforce)", false},
		{"lxc-container-default-cgns (complain)\x00", true, "lxc-container-default-cgns (complain)", false},
		{"system_u:system_r:container_t:s0:c123,c456\x00", false, "system_u:system_r:container_t:s0:c123,c456", true},
		{"unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\n", false, "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", true},
		{"_\n", false, "_", false},
	} {
		label, ok := AppArmorLabel(tt.attr)
		if ok != tt.apparmor || label != tt.label {
			t.Errorf("AppArmorLabel(%q) = %q, %v", tt.attr, label, ok)
		}
		if SELinuxContext(tt.attr) != tt.isSELinux {
			t.Errorf("SELinuxContext(%q) = %v", tt.attr, !tt.isSELinux)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{hostStatus, gvisorStatus, nobodyStatus, "Uid:\t0\n", "CapEff:\n", "Seccomp:\t99999999999999\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		st, _ := ParseStatus(strings.NewReader(text))
		mode, why := SeccompMode(st)
		switch mode {
		case "", SeccompDisabled, SeccompStrict, SeccompFilter, SeccompUnreliable:
		default:
			t.Fatalf("unknown seccomp mode %q", mode)
		}
		if mode == "" && why == "" || mode == SeccompUnreliable && why == "" {
			t.Fatalf("mode %q without a reason", mode)
		}
		if st.Has("Uid") && (st.UID[1] < 0 || st.UID[1] > 1<<32-1) {
			t.Fatalf("uid %d out of range", st.UID[1])
		}
		if st.Has("CapEff") && len(CapNames(st.CapEff)) > 64 {
			t.Fatal("more than 64 capabilities")
		}
	})
}

func FuzzParseCapMask(f *testing.F) {
	for _, s := range []string{"000001fffeffffff", "0000003fffffdfff", "a80425fb", "0", "ffffffffffffffff", "", "g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseCapMask(s)
		if err != nil {
			return
		}
		// Whatever parses must round-trip through the kernel's format.
		if back, err := ParseCapMask(fmt.Sprintf("%016x", m)); err != nil || back != m {
			t.Fatalf("%q: %x then %x (%v)", s, m, back, err)
		}
		names := CapNames(m)
		n := 0
		for x := m; x != 0; x &= x - 1 {
			n++
		}
		if len(names) != n {
			t.Fatalf("%x: %d names for %d bits", m, len(names), n)
		}
	})
}

func FuzzParseIDMap(f *testing.F) {
	for _, s := range []string{"         0          0 4294967295\n", "0 1001 1\n1 100000 65536\n", "", "0 0\n", "\n\n1 2 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseIDMap(text)
		tri := InUserNS(text)
		if err == nil && len(m) > 0 {
			again, err := ParseIDMap(strings.ReplaceAll(FormatIDMap(m), ", ", "\n"))
			if err != nil || !slices.Equal(again, m) {
				t.Fatalf("%q: %v does not round-trip (%v, %v)", text, m, again, err)
			}
			init := m[0] == IDRange{0, 0, 4294967295}
			if tri != probes.TriOf(!init) {
				t.Fatalf("%q: InUserNS %v with first range %v", text, tri, m[0])
			}
		}
	})
}
