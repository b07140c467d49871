// Package redact removes what identifies a person or a machine from text
// meant for sharing: host names, IP and MAC addresses, user names and home
// paths, tokens and credentials, machine IDs. Replacements are stable
// within one Redactor, so a redacted report still says "the same address
// appears twice".
package redact

import (
	"fmt"
	"sort"
	"strings"
)

// Redactor rewrites strings. The zero value is not usable; use New.
type Redactor struct {
	words   []string          // literal secrets: host names, user names
	ipMap   map[string]string // original -> placeholder
	macMap  map[string]string
	replace map[string]string // literal -> placeholder for words
	inPaths map[string]bool   // words also replaced as a path component
	next4   int               // IPv4 placeholders handed out
	next6   int               // IPv6 placeholders handed out
}

// New returns a Redactor that also replaces the given host names and user
// names wherever they appear as words.
func New(hostnames, users []string) *Redactor {
	r := &Redactor{ipMap: map[string]string{}, macMap: map[string]string{}, replace: map[string]string{}, inPaths: map[string]bool{}}
	for i, h := range uniq(hostnames) {
		if len(h) >= 2 && !genericHostnames[h] {
			r.replace[h] = fmt.Sprintf("host%d", i+1)
			// A short host name (db1) is no path component: /proc/sys/vm
			// stays with a host named vm.
			r.inPaths[h] = len(h) >= 4
		}
	}
	for i, u := range uniq(users) {
		if len(u) >= 2 && !genericUsers[u] {
			r.replace[u] = fmt.Sprintf("user%d", i+1)
			r.inPaths[u] = true // /srv/bob
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
	// An IPv4 address, with its prefix length when it names a network.
	ipv4Re    = lazy(`\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b(?:/(\d{1,2})\b)?`)
	ipv6Re    = lazy(`(?i)\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{1,4})*::(?:[0-9a-f]{1,4}:)*[0-9a-f]{1,4}\b`)
	macOnlyRe = lazy(`(?i)^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$`)
	macRe     = lazy(`(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b|\b[0-9a-f]{2}(?:-[0-9a-f]{2}){5}\b`)
	// A JWT: three base64url parts, the first one a JSON header.
	jwtRe = lazy(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}`)
	// user:password@ in URLs.
	userinfoRe = lazy(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:\x00]{1,256}(:[^@\s\x00]{0,256})?@`)
	// Query parameters of URLs that carry credentials (?token=, &sig=,
	// &X-Amz-Signature=, ?code=...).
	queryRe = lazy(`(?i)([?&][A-Za-z0-9_.-]*(?:token|sig|signature|key|secret|auth|code|pass|credential|session|jwt)[A-Za-z0-9_.-]*=)[^&\s#"'<>]+`)
	// HTTP authorization schemes followed by their credential; a Basic
	// credential is base64 with a digit or padding ("Basic auth" is prose).
	bearerRe = lazy(`(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	basicRe  = lazy(`\b(Basic\s+)([A-Za-z0-9+/]{6,}={0,2})`)
	// Tokens recognisable by their prefix: GitHub, GitLab, Slack, AWS
	// access key IDs, OpenAI-style and npm keys.
	tokenPrefixRe = lazy(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{30,})\b`)
	// Environment entries (KEY=value) whose name says the value is
	// secret or points at infrastructure: proxies carry credentials (one
	// web IDE's HTTP_PROXY holds a JWT).
	envKVRe = lazy(`\b([A-Z0-9_]*(?:PROXY|TOKEN|SECRET|PASS|_PWD|_KEY|APIKEY|AUTH|CREDENTIALS?|COOKIE|SESSION|_PAT|WEBHOOK)[A-Z0-9_]*|[a-z_]*_proxy)=([^\s"',;&\x00]+)`)
	// Webhook URLs carry their secret in the path.
	webhookRe = lazy(`(?i)(https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)|[a-z0-9.-]*discord(?:app)?\.com/api/webhooks|[a-z0-9.-]+/webhook(?:s)?)/)[^\s"'<>\x00]+`)
	// PEM private keys, to their END line or the end of the text.
	pemRe = lazy(`(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)`)
	// Command-line flags whose name says secret, with their value as the
	// next word (--token VALUE); --token=VALUE is secretKVRe's.
	flagRe = lazy(`(?i)(^|\s)(--?[a-z0-9-]*(?:token|secret|passw(?:or)?d|pass|pwd|api-?key|auth|credential)[a-z0-9-]*)(\s+)([^\s-][^\s\x00]*)`)
	// UUIDs: boot IDs, DMI product UUIDs, instance IDs.
	uuidRe = lazy(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	// key=value and key: value pairs whose key says secret.
	secretKVRe = lazy(`(?i)\b([A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|passwd|passphrase|api[_-]?key|access[_-]?key|auth|credential|cookie|session)[A-Za-z0-9_.-]*)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&\x00]+)`)
	homeRe     = lazy(`/(home|Users)/[^/\s:"'<>]+`)
	// Long hex strings: machine IDs, boot IDs, container IDs.
	longHexRe = lazy(`\b[0-9a-f]{32,64}\b`)
)

// genericHostnames identify nobody and are sandbox markers (gVisor's
// default hostname is "runsc"); short names such as "vm" would turn every
// "/proc/sys/vm" into nonsense.
var genericHostnames = map[string]bool{
	"localhost": true, "runsc": true, "sandbox": true, "container": true, "ubuntu": true,
	"debian": true, "codespaces": true, "gitpod": true, "devcontainer": true, "buildkitsandbox": true,
}

// genericUsers are accounts that identify nobody, and words a report needs
// intact: a user named "dev" must not turn "/dev/kmsg" into nonsense, one
// named "gitpod" must not hide which web IDE this is.
var genericUsers = map[string]bool{
	"root": true, "nobody": true, "user": true, "dev": true, "admin": true, "test": true, "build": true,
	"builder": true, "ubuntu": true, "debian": true, "fedora": true, "gitpod": true, "codespace": true,
	"vscode": true, "coder": true, "node": true, "app": true, "runner": true, "docker": true, "podman": true,
	"kube": true, "k3s": true, "sandbox": true, "ci": true, "proc": true, "sys": true, "run": true, "home": true,
}

// String redacts s.
func (r *Redactor) String(s string) string {
	s = pemRe.ReplaceAllString(s, "${1}\nREDACTED\n${2}")
	s = jwtRe.ReplaceAllString(s, "REDACTED-TOKEN")
	s = webhookRe.ReplaceAllString(s, "${1}REDACTED")
	s = tokenPrefixRe.ReplaceAllString(s, "REDACTED-TOKEN")
	s = userinfoRe.ReplaceAllString(s, "${1}REDACTED@")
	s = queryRe.ReplaceAllString(s, "${1}REDACTED")
	s = envKVRe.ReplaceAllString(s, "${1}=REDACTED")
	s = bearerRe.ReplaceAllString(s, "${1}${2}REDACTED")
	s = basicRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := basicRe.FindStringSubmatch(m)
		if strings.ContainsAny(sub[2], "0123456789=+/") {
			return sub[1] + "REDACTED"
		}
		return m
	})
	s = secretKVRe.ReplaceAllString(s, "${1}${2}REDACTED")
	s = flagRe.ReplaceAllStringFunc(s, redactFlag)
	s = macRe.ReplaceAllStringFunc(s, r.mac)
	s = uuidRe.ReplaceAllString(s, "00000000-0000-0000-0000-000000000000")
	s = ipv4Re.ReplaceAllStringFunc(s, r.ipv4)
	s = r.replaceIPv6(s)
	s = homeRe.ReplaceAllString(s, "/home/user")
	s = longHexRe.ReplaceAllString(s, "0000000000000000")
	for _, w := range r.words {
		s = replaceWord(s, w, r.replace[w], r.inPaths[w])
	}
	return s
}

// replaceWord replaces w where it is not part of a longer name.
func replaceWord(s, w, by string, inPaths bool) string {
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(w)
		short := !inPaths
		if (i == 0 || !nameChar(s[i-1]) && !(short && isPathChar(s[i-1]))) && (end == len(s) || !nameChar(s[end]) && !(short && isPathChar(s[end]))) {
			b.WriteString(s[:i])
			b.WriteString(by)
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
}

func isPathChar(c byte) bool { return c == '/' }

// redactFlag redacts the value of a secret-named flag, but not of one
// that names a file or directory holding the secret (--token-file PATH).
func redactFlag(m string) string {
	sub := flagRe.FindStringSubmatch(m)
	name := strings.ToLower(sub[2])
	for _, suffix := range []string{"-file", "-path", "-dir", "-hash", "-ttl"} {
		if strings.HasSuffix(name, suffix) {
			return m
		}
	}
	if sub[4] == "REDACTED" {
		return m
	}
	return sub[1] + sub[2] + sub[3] + "REDACTED"
}

func nameChar(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (r *Redactor) ipv4(match string) string {
	m := ipv4Re.FindStringSubmatch(match)
	for _, part := range m[1:5] {
		if len(part) > 1 && part[0] == '0' || atoi(part) > 255 {
			return match // a version number or similar, not an address
		}
	}
	ip, suffix := match, ""
	if m[5] != "" {
		ip, suffix = match[:strings.IndexByte(match, '/')], "/"+m[5]
		if isNetwork(m[1:5], atoi(m[5])) {
			return match // a network (10.42.0.0/16), no one's address
		}
	}
	switch {
	case m[1] == "127", ip == "0.0.0.0", ip == "255.255.255.255",
		m[1] == "240",                                // the placeholders
		ip == "203.0.113.254", ip == "203.0.113.255": // launch's stand-in address and its peer (hoststate), kprobe's own
		return match
	}
	if p, ok := r.ipMap[ip]; ok {
		return p + suffix
	}
	// 240.0.0.0/4 is reserved and never a machine's address, so a
	// placeholder cannot be mistaken for (or collide with) a real one;
	// documentation ranges are real addresses of some machines (a VM's
	// 192.0.2.2) and are redacted like any other.
	n := r.next4 + 1
	r.next4++
	p := fmt.Sprintf("240.%d.%d.%d", n>>16&255, n>>8&255, n&255)
	r.ipMap[ip] = p
	return p + suffix
}

// isNetwork reports whether the address has no host bits under the prefix
// length bits (and the prefix leaves some: /32 is one host).
func isNetwork(octets []string, bits int) bool {
	if bits < 1 || bits > 31 {
		return false
	}
	var a uint32
	for _, o := range octets {
		a = a<<8 | uint32(atoi(o))
	}
	return a&(1<<(32-bits)-1) == 0
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
		if m[1] < len(s) && s[m[1]] == '.' {
			continue // the head of an IPv4 address (00:00:192.0.2.1)
		}
		if macOnlyRe.MatchString(s[m[0]:m[1]]) {
			continue // a MAC address (or its placeholder), not IPv6
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
	if l == "::1" || strings.HasPrefix(l, "fe80:") || strings.HasPrefix(l, "100::") {
		return ip
	}
	if strings.Count(l, ":") < 2 {
		return ip
	}
	if p, ok := r.ipMap[l]; ok {
		return p
	}
	// 100::/64 is discard-only (RFC 6666): no machine's address.
	r.next6++
	p := fmt.Sprintf("100::%x", r.next6)
	r.ipMap[l] = p
	return p
}

func (r *Redactor) mac(m string) string {
	l := strings.ToLower(m)
	if l == "00:00:00:00:00:00" || l == "ff:ff:ff:ff:ff:ff" || strings.HasPrefix(l, "02:00:00:00:") {
		return m
	}
	if p, ok := r.macMap[l]; ok {
		return p
	}
	n := len(r.macMap) + 1
	p := fmt.Sprintf("02:00:00:00:%02x:%02x", n>>8&255, n&255)
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
var sensitiveEnv = lazy(`(?i)(token|secret|pass|_pwd$|api_?key|access_?key|auth|credential|cookie|session|private|_pat$|^pat_|proxy|webhook)`)

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
