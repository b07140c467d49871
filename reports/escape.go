package reports

import (
	"fmt"
	"regexp"
	"strings"
)

// ownStyle matches the only escape sequences kprobe writes itself: the
// palette's SGR colours.
var ownStyle = regexp.MustCompile(`^\x1b\[(?:0|1|2|31|32|33)m`)

// terminalSafe makes rendered text safe for a terminal, whatever a
// hostile report put into it: control characters other than newline and
// tab, and escape sequences other than the palette's own colours (only
// when color is on), are shown as \xNN instead of being interpreted (a
// report must not move the cursor, retitle the window, set the clipboard
// or hide a line).
func terminalSafe(s string, color bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0x1b && color {
			if m := ownStyle.FindString(s[i:]); m != "" {
				b.WriteString(m)
				i += len(m)
				continue
			}
		}
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
			i++
			continue
		}
		// C1 controls (U+0080..U+009F, 0xc2 0x80..0x9f in UTF-8) are
		// escapes too for many terminals.
		if c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			fmt.Fprintf(&b, `\u%04x`, s[i+1])
			i += 2
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}
