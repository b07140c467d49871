package probes

import "testing"

func TestTally(t *testing.T) {
	var tl Tally
	if tl.String() != "" || tl.Outcomes() != 0 {
		t.Errorf("empty tally %q", tl.String())
	}
	for _, x := range [][2]string{{"veth", "ok"}, {"vxlan", "EOPNOTSUPP"}, {"bridge", "ok"}} {
		tl.Add(x[0], x[1])
	}
	if got := tl.String(); got != "veth bridge ok, vxlan EOPNOTSUPP" || tl.Outcomes() != 2 {
		t.Errorf("tally %q (%d outcomes)", got, tl.Outcomes())
	}
}

func TestFit(t *testing.T) {
	items := []string{"kubectl v1.32.4", "runc 1.1.5", "crun 1.8.1"}
	for max, want := range map[int]string{
		100: "kubectl v1.32.4, runc 1.1.5, crun 1.8.1",
		39:  "kubectl v1.32.4, runc 1.1.5, crun 1.8.1",
		38:  "kubectl v1.32.4, runc 1.1.5 (+1 more)",
		36:  "kubectl v1.32.4 (+2 more)",
		10:  "(+3 more)",
	} {
		if got := Fit(items, ", ", max); got != want || len(got) > max {
			t.Errorf("Fit(%d) = %q, want %q", max, got, want)
		}
	}
	if got := Fit(nil, ", ", 10); got != "" {
		t.Errorf("Fit(nil) = %q", got)
	}
}
