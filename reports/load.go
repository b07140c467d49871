package reports

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/kprobe/kprobe/probes"
)

// Decode reads a JSON report (`kprobe scan -o json`, `kprobe report
// --format json`). It refuses anything but this APIVersion and Kind, and
// restores the facts' types from schema (fact keys schema does not know,
// from another kprobe version, keep their JSON types: integers, strings,
// lists of strings). A nil schema keeps every fact as decoded.
func Decode(data []byte, schema probes.Schema) (*Report, error) {
	var head struct {
		APIVersion *string `json:"apiVersion"`
		Kind       string  `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a kprobe JSON report: %v", err)
	}
	switch {
	case head.APIVersion == nil:
		return nil, fmt.Errorf("not a kprobe JSON report: no apiVersion (write one with kprobe scan -o json)")
	case *head.APIVersion != APIVersion:
		return nil, fmt.Errorf("apiVersion %q is not supported: this kprobe reads %s", *head.APIVersion, APIVersion)
	case head.Kind != Kind:
		return nil, fmt.Errorf("kind %q is not supported: this kprobe reads %s", head.Kind, Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a kprobe JSON report: %v", err)
	}
	r.Facts = coerceFacts(r.Facts, schema)
	for i := range r.Results {
		r.Results[i].Facts = coerceFacts(r.Results[i].Facts, schema)
	}
	if r.Blockers == nil {
		r.Blockers = []probes.Finding{}
	}
	return &r, nil
}

func coerceFacts(f probes.Facts, schema probes.Schema) probes.Facts {
	for k, v := range f {
		if spec, ok := schema[k]; ok {
			if c, err := probes.Coerce(spec, v); err == nil {
				f[k] = c
				continue
			}
		}
		f[k] = plain(v)
	}
	return f
}

// plain turns a decoded JSON value into the types facts use.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return v
			}
			out = append(out, s)
		}
		return out
	}
	return v
}
