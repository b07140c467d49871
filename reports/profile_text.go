package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// WriteProfileText explains a profile: identity, capabilities, findings and
// the verdict.
func WriteProfileText(w io.Writer, p *profiles.Profile, o TextOptions) error {
	pal := palette{on: o.Color}
	var b strings.Builder
	name := p.Name
	if name == "" {
		name = "scanned sandbox"
	}
	fmt.Fprintf(&b, "%s %s (%s)\n", pal.bold("profile:"), name, p.APIVersion)
	if p.Description != "" {
		fmt.Fprintf(&b, "  %s\n", p.Description)
	}
	if !p.Generated.IsZero() {
		fmt.Fprintf(&b, "  generated %s by kprobe %s\n", p.Generated.Format("2006-01-02 15:04:05Z07:00"), p.KprobeVersion)
	}
	fmt.Fprintf(&b, "  identity: %s", p.Identity.Sandbox)
	if p.Identity.VM != "" {
		fmt.Fprintf(&b, ", vm %s", p.Identity.VM)
	}
	if p.Identity.Confidence != "" {
		fmt.Fprintf(&b, ", %s confidence", p.Identity.Confidence)
	}
	b.WriteString("\n")
	if len(p.Identity.Markers) > 0 {
		fmt.Fprintf(&b, "  markers: %s\n", strings.Join(p.Identity.Markers, "; "))
	}
	c := p.Capabilities
	fmt.Fprintf(&b, "\n%s\n", pal.bold("capabilities"))
	for _, kv := range []struct {
		k string
		v probes.Tri
	}{
		{"containers start", c.ContainersStart}, {"cgroups writable", c.CgroupsWritable},
		{"overlay mountable", c.OverlayMountable}, {"/dev/kmsg readable", c.KmsgReadable},
		{"iptables usable", c.IptablesUsable}, {"user namespaces", c.UserNamespaces},
		{"in a user namespace", c.InUserNamespace}, {"kubelet can stat its fs", c.KubeletStats},
	} {
		fmt.Fprintf(&b, "  %-24s %s\n", kv.k, kv.v)
	}
	if len(p.Findings) > 0 {
		fmt.Fprintf(&b, "\n%s\n", pal.bold("findings"))
		for _, f := range p.Findings {
			mark := "·"
			switch {
			case f.Severity == probes.Block && !f.Ignored:
				mark = pal.red("✗")
			case f.Severity == probes.Warn || f.Ignored:
				mark = pal.yellow("!")
			}
			writeFinding(&b, pal, f, mark)
		}
	}
	writeVerdict(&b, pal, p.Verdict)
	fmt.Fprintf(&b, "\n%d facts recorded; 'kprobe scan --from-capture' or the TOML itself show them all.\n", len(p.Facts))
	_, err := io.WriteString(w, terminalSafe(b.String(), o.Color))
	return err
}
