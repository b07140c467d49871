package network

import (
	"reflect"
	"strings"
	"testing"
)

// Real dumps from the Debian 12 Firecracker VM (kernel 6.18.44-fc).
const (
	hostNetDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  ifb1:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 31519796    1976    0    0    0     0          0         0   210517    1958    0    0    0     0       0          0
`
	hostRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT                                                       
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0                                                                               
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0                                                                               
`
	hostIPv6Route = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`
	// A fresh network namespace (or gVisor --network=none): only the
	// unreachable default of lo.
	isolatedIPv6Route = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`
	hostTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42979 1 00000000c5cfe967 100 0 0 10 0                     
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19 1 0000000023629626 100 0 0 10 0                        
   2: 020200C0:8108 507100CB:01BB 06 00000000:00000000 03:00000C44 00000000     0        0 0 3 00000000d911f985                                      
   3: 020200C0:8116 507100CB:01BB 06 00000000:00000000 03:00000C44 00000000     0        0 0 3 00000000425d4556                                      
`
	hostTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:192B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 42978 1 00000000e80932b8 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 48750 1 00000000d8176179 100 0 0 10 0
`
	hostStatus = `Name:	grep
Umask:	0022
State:	R (running)
CapInh:	0000000000000000
CapPrm:	000001fffeffffff
CapEff:	000001fffeffffff
CapBnd:	000001fffeffffff
CapAmb:	0000000000000000
NoNewPrivs:	0
`
)

func TestParseNetDev(t *testing.T) {
	got, err := ParseNetDev(strings.NewReader(hostNetDev))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lo", "ifb0", "ifb1", "eth0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Old kernels glue the counters to the colon.
	got, _ = ParseNetDev(strings.NewReader("hdr|\nhdr|\n  eth0:123 4 0 0\n"))
	if !reflect.DeepEqual(got, []string{"eth0"}) {
		t.Errorf("glued: got %v", got)
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"host", hostRoute, "eth0"},
		{"no default", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", ""},
		{"empty (gVisor --network=none)", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n", ""},
		{"down route ignored", "eth1\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"lowest metric", "eth1\t00000000\t010200C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\nwlan0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "wlan0"},
	}
	for _, tt := range tests {
		got, err := ParseRoute(strings.NewReader(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestParseIPv6Route(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"host", hostIPv6Route, "eth0"},
		{"isolated", isolatedIPv6Route, ""},
		{"empty", "", ""},
	} {
		got, err := ParseIPv6Route(strings.NewReader(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestParseTCPListeners(t *testing.T) {
	got, err := ParseTCPListeners(strings.NewReader(hostTCP))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{IP: "127.0.0.1", Port: 10250, UID: 0, Inode: 42979},
		{IP: "0.0.0.0", Port: 2024, UID: 0, Inode: 19},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tcp: got %+v, want %+v", got, want)
	}
	got, err = ParseTCPListeners(strings.NewReader(hostTCP6))
	if err != nil {
		t.Fatal(err)
	}
	want = []Listener{
		{IP: "::", Port: 6443, UID: 0, Inode: 42978},
		{IP: "127.0.0.1", Port: 8080, UID: 65534, Inode: 48750}, // ::ffff:127.0.0.1
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tcp6: got %+v, want %+v", got, want)
	}
	if got[0].String() != "[::]:6443" {
		t.Errorf("String() = %q", got[0].String())
	}
}

func TestIptablesVersion(t *testing.T) {
	for _, tt := range []struct{ in, ver, backend string }{
		{"iptables v1.8.9 (nf_tables)\n", "1.8.9", "nft"},
		{"iptables v1.8.9 (legacy)\n", "1.8.9", "legacy"},
		{"iptables v1.6.1\n", "1.6.1", "legacy"},
		{"ip6tables v1.8.7 (nf_tables)", "1.8.7", "nft"},
		{"bash: iptables: command not found", "", ""},
		// gVisor: the nft variant cannot even print its version.
		{"iptables: Failed to initialize nft: Protocol not supported\n", "", "nft"},
		{"", "", ""},
	} {
		v, b := IptablesVersion(tt.in)
		if v != tt.ver || b != tt.backend {
			t.Errorf("%q: got %q %q, want %q %q", tt.in, v, b, tt.ver, tt.backend)
		}
	}
}

func TestIptablesError(t *testing.T) {
	for _, tt := range []struct{ in, msg, errno string }{
		// gVisor (sandbox-zoo, prior-art #28).
		{"iptables/1.8.9 Failed to initialize nft: Protocol not supported\n", "iptables/1.8.9 Failed to initialize nft: Protocol not supported", "EPROTONOSUPPORT"},
		// Containers without CAP_NET_ADMIN.
		{"iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n", "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)", "EACCES"},
		// gVisor legacy without net-raw (prior-art #29).
		{"iptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)\nPerhaps iptables or your kernel needs to be upgraded.\n", "iptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)", "ENOENT"},
		// The warning iptables-nft prints when legacy tables exist is skipped.
		{"# Warning: iptables-legacy tables present, use iptables-legacy to see them\niptables: Invalid argument. Run `dmesg' for more information.\n", "iptables: Invalid argument. Run `dmesg' for more information.", "EINVAL"},
		{"Warning: Extension comment revision 0 not supported, missing kernel module?\n", "Warning: Extension comment revision 0 not supported, missing kernel module?", ""},
	} {
		msg, errno := IptablesError(tt.in)
		if msg != tt.msg || errno != tt.errno {
			t.Errorf("%q:\n got %q %q\nwant %q %q", tt.in, msg, errno, tt.msg, tt.errno)
		}
	}
}

func FuzzParseNetDev(f *testing.F) {
	f.Add(hostNetDev)
	f.Add("  x:\n:\n|")
	f.Fuzz(func(t *testing.T, s string) {
		names, _ := ParseNetDev(strings.NewReader(s))
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, ":|") {
				t.Fatalf("bad name %q", n)
			}
		}
	})
}

func FuzzParseRoute(f *testing.F) {
	f.Add(hostRoute)
	f.Add("x 00000000 0 1 0 0 zz 00000000")
	f.Fuzz(func(t *testing.T, s string) {
		name, _ := ParseRoute(strings.NewReader(s))
		if strings.ContainsAny(name, " \t\n") {
			t.Fatalf("bad name %q", name)
		}
	})
}

func FuzzParseIPv6Route(f *testing.F) {
	f.Add(hostIPv6Route)
	f.Add(isolatedIPv6Route)
	f.Fuzz(func(t *testing.T, s string) {
		name, _ := ParseIPv6Route(strings.NewReader(s))
		if name == "lo" {
			t.Fatal("lo chosen as default")
		}
	})
}

func FuzzParseTCPListeners(f *testing.F) {
	f.Add(hostTCP)
	f.Add(hostTCP6)
	f.Add("0: 0100007F:FFFFF 0 0A a b c 0 0 1")
	f.Fuzz(func(t *testing.T, s string) {
		ls, _ := ParseTCPListeners(strings.NewReader(s))
		for _, l := range ls {
			if l.IP == "" || l.IP == "?" {
				t.Fatalf("listener without address: %+v", l)
			}
		}
	})
}

func FuzzIptablesText(f *testing.F) {
	f.Add("iptables v1.8.9 (nf_tables)\n")
	f.Add("# Warning: iptables-legacy tables present\nx: Permission denied\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, b := IptablesVersion(s)
		if b != "" && b != "nft" && b != "legacy" {
			t.Fatalf("backend %q", b)
		}
		msg, _ := IptablesError(s)
		if len(msg) > 240 {
			t.Fatalf("message of %d bytes", len(msg))
		}
	})
}
