// Package redact removes what identifies a person or a machine from text
// meant for sharing: host names, IP and MAC addresses, user names and home
// paths, tokens and credentials, machine IDs. Replacements are stable
// within one Redactor, so a redacted report still says "the same address
// appears twice".
package redact

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Redactor rewrites strings. The zero value is not usable; use New.
type Redactor struct {
	words   []string          // literal secrets: host names, user names
	ipMap   map[string]string // original -> placeholder
	macMap  map[string]string
	replace map[string]string // literal -> placeholder for words
}

// New returns a Redactor that also replaces the given host names and user
// names wherever they appear as words.
func New(hostnames, users []string) *Redactor {
	r := &Redactor{ipMap: map[string]string{}, macMap: map[string]string{}, replace: map[string]string{}}
	for i, h := range uniq(hostnames) {
		if len(h) >= 4 && !genericHostnames[h] {
			r.replace[h] = fmt.Sprintf("host%d", i+1)
		}
	}
	for i, u := range uniq(users) {
		if len(u) >= 2 && u != "root" && u != "nobody" {
			r.replace[u] = fmt.Sprintf("user%d", i+1)
		}
	}
	for w := range r.replace {
		r.words = append(r.words, w)
	}
	// Longest first, so "host-a.example" goes before "host-a".
	sort.Slice(r.words, func(i, j int) bool { return len(r.words[i]) > len(r.words[j]) })
	return r
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

var (
	ipv4Re = regexp.MustCompile(`\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b`)
	ipv6Re = regexp.MustCompile(`(?i)\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{1,4})*::(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4}\b`)
	macRe  = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b`)
	// A JWT: three base64url parts, the first one a JSON header.
	jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}`)
	// user:password@ in URLs.
	userinfoRe = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@`)
	// key=value and key: value pairs whose key says secret.
	secretKVRe = regexp.MustCompile(`(?i)\b([A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|passwd|api[_-]?key|access[_-]?key|auth|credential|cookie|session)[A-Za-z0-9_.-]*)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)`)
	homeRe     = regexp.MustCompile(`/home/[^/\s:]+`)
	// Long hex strings: machine IDs, boot IDs, container IDs.
	longHexRe = regexp.MustCompile(`\b[0-9a-f]{32,64}\b`)
)

// genericHostnames identify nobody and are sandbox markers (gVisor's
// default hostname is "runsc"); short names such as "vm" would turn every
// "/proc/sys/vm" into nonsense.
var genericHostnames = map[string]bool{
	"localhost": true, "runsc": true, "sandbox": true, "container": true, "ubuntu": true,
	"debian": true, "codespaces": true, "gitpod": true, "devcontainer": true, "buildkitsandbox": true,
}

// String redacts s.
func (r *Redactor) String(s string) string {
	s = jwtRe.ReplaceAllString(s, "REDACTED-TOKEN")
	s = userinfoRe.ReplaceAllString(s, "${1}REDACTED@")
	s = secretKVRe.ReplaceAllString(s, "${1}${2}REDACTED")
	s = macRe.ReplaceAllStringFunc(s, r.mac)
	s = ipv4Re.ReplaceAllStringFunc(s, r.ipv4)
	s = r.replaceIPv6(s)
	s = homeRe.ReplaceAllString(s, "/home/user")
	s = longHexRe.ReplaceAllString(s, "0000000000000000")
	for _, w := range r.words {
		s = replaceWord(s, w, r.replace[w])
	}
	return s
}

// replaceWord replaces w where it is not part of a longer name.
func replaceWord(s, w, by string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(w)
		if (i == 0 || !nameChar(s[i-1])) && (end == len(s) || !nameChar(s[end])) {
			b.WriteString(s[:i])
			b.WriteString(by)
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
}

func nameChar(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (r *Redactor) ipv4(ip string) string {
	m := ipv4Re.FindStringSubmatch(ip)
	for _, part := range m[1:] {
		if len(part) > 1 && part[0] == '0' || atoi(part) > 255 {
			return ip // a version number or similar, not an address
		}
	}
	switch {
	case m[1] == "127", ip == "0.0.0.0", ip == "255.255.255.255",
		m[1] == "192" && m[2] == "0" && m[3] == "2": // already TEST-NET-1
		return ip
	}
	if p, ok := r.ipMap[ip]; ok {
		return p
	}
	p := fmt.Sprintf("192.0.2.%d", len(r.ipMap)%254+1)
	r.ipMap[ip] = p
	return p
}

// replaceIPv6 replaces IPv6 addresses that stand on their own, not the
// tail of a longer token.
func (r *Redactor) replaceIPv6(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range ipv6Re.FindAllStringIndex(s, -1) {
		if m[0] > 0 && (nameChar(s[m[0]-1]) || s[m[0]-1] == ':' || s[m[0]-1] == '.') {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(r.ipv6(s[m[0]:m[1]]))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func (r *Redactor) ipv6(ip string) string {
	l := strings.ToLower(ip)
	if l == "::1" || strings.HasPrefix(l, "fe80:") || strings.HasPrefix(l, "2001:db8:") {
		return ip
	}
	if strings.Count(l, ":") < 2 {
		return ip
	}
	if p, ok := r.ipMap[l]; ok {
		return p
	}
	p := fmt.Sprintf("2001:db8::%x", len(r.ipMap)+1)
	r.ipMap[l] = p
	return p
}

func (r *Redactor) mac(m string) string {
	l := strings.ToLower(m)
	if l == "00:00:00:00:00:00" || l == "ff:ff:ff:ff:ff:ff" || strings.HasPrefix(l, "02:00:00:00:00:") {
		return m
	}
	if p, ok := r.macMap[l]; ok {
		return p
	}
	p := fmt.Sprintf("02:00:00:00:00:%02x", len(r.macMap)%255+1)
	r.macMap[l] = p
	return p
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// sensitiveEnv matches environment variable names whose values are secret.
var sensitiveEnv = regexp.MustCompile(`(?i)(token|secret|passw|api_?key|access_?key|auth|credential|cookie|session|private|_pat$|^pat_|proxy)`)

// Env redacts a KEY=VALUE environment entry: sensitive values are removed
// entirely, the rest go through String.
func (r *Redactor) Env(kv string) string {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return r.String(kv)
	}
	if sensitiveEnv.MatchString(k) {
		if v == "" {
			return k + "="
		}
		return k + "=REDACTED"
	}
	return k + "=" + r.String(v)
}
