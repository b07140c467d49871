package reports

import (
	"encoding/json"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/redact"
)

// NewRedactor returns the redactor for sharing rs: it removes the given
// host names and user names, and the user names that home directory paths
// anywhere in rs give away. One redactor over several reports keeps its
// placeholders the same across them (a merged matrix).
func NewRedactor(hostnames, users []string, rs ...*Report) (*redact.Redactor, error) {
	for _, r := range rs {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		users = append(users, redact.HomeUsers(string(data))...)
	}
	return redact.New(hostnames, users), nil
}

// Redact returns a copy of r with every string in it redacted: facts,
// evidence, findings, the plan, launch attempts and their log lines, the
// verification. It goes through the JSON form, so no field is missed,
// including fields added later.
func (r *Report) Redact(red *redact.Redactor, schema probes.Schema) (*Report, error) {
	c := *r
	if c.APIVersion == "" {
		c.APIVersion, c.Kind = APIVersion, Kind
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	out, err := red.JSON(data)
	if err != nil {
		return nil, err
	}
	rr, err := Decode(out, schema)
	if err != nil {
		return nil, err
	}
	rr.Redacted = true
	return rr, nil
}
