package probes

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Tri is a tri-state answer. Unknown means "could not look", never "no".
type Tri int8

const (
	Unknown Tri = iota
	No
	Yes
)

// TriOf turns a bool observation into a Tri.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// MarshalText encodes a Tri as yes, no or unknown.
func (t Tri) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts yes, no and unknown.
func (t *Tri) UnmarshalText(b []byte) error {
	v, err := ParseTri(string(b))
	*t = v
	return err
}

// ParseTri parses yes, no or unknown.
func ParseTri(s string) (Tri, error) {
	switch s {
	case "yes":
		return Yes, nil
	case "no":
		return No, nil
	case "unknown", "":
		return Unknown, nil
	}
	return Unknown, fmt.Errorf("%q is not yes, no or unknown", s)
}

// FactType is the type of a fact's value.
type FactType string

const (
	TypeTri    FactType = "tri"     // Tri
	TypeString FactType = "string"  // string
	TypeInt    FactType = "int"     // int64
	TypeList   FactType = "strings" // []string
)

// FactSpec declares one fact a probe may set. The registry of specs is the
// schema of profiles and of the fact table in docs/.
type FactSpec struct {
	Key  string   `json:"key"`
	Type FactType `json:"type"`
	Doc  string   `json:"doc"`
}

// Facts maps a fact key such as "cgroups.layout" to its typed value: a Tri,
// a string, an int64 or a []string.
type Facts map[string]any

// Tri returns the tri-state fact at key, Unknown when absent.
func (f Facts) Tri(key string) Tri {
	if v, ok := f[key].(Tri); ok {
		return v
	}
	return Unknown
}

// String returns the string fact at key, "" when absent.
func (f Facts) String(key string) string {
	if v, ok := f[key].(string); ok {
		return v
	}
	return ""
}

// Int returns the integer fact at key and whether it is present.
func (f Facts) Int(key string) (int64, bool) {
	v, ok := f[key].(int64)
	return v, ok
}

// List returns the list fact at key.
func (f Facts) List(key string) []string {
	v, _ := f[key].([]string)
	return v
}

// Keys returns the keys in sorted order.
func (f Facts) Keys() []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Merge copies every fact of other into f.
func (f Facts) Merge(other Facts) {
	for k, v := range other {
		f[k] = v
	}
}

// Format renders a fact value for humans and tables.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case []string:
		if len(x) == 0 {
			return "(none)"
		}
		b, _ := json.Marshal(x)
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

// Coerce converts a decoded JSON or TOML value (string, float64, int64,
// []any) into the Go type the spec declares. It is what makes a profile or a
// capture load back with the same types it was saved with.
func Coerce(spec FactSpec, v any) (any, error) {
	switch spec.Type {
	case TypeTri:
		switch x := v.(type) {
		case Tri:
			return x, nil
		case string:
			return ParseTri(x)
		case bool:
			return TriOf(x), nil
		}
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case TypeInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
		case json.Number:
			return x.Int64()
		}
	case TypeList:
		switch x := v.(type) {
		case []string:
			return x, nil
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("list element %v is not a string", e)
				}
				out = append(out, s)
			}
			return out, nil
		}
	default:
		return nil, fmt.Errorf("unknown fact type %q", spec.Type)
	}
	return nil, fmt.Errorf("value %v (%T) is not of type %s", v, v, spec.Type)
}

// Schema indexes fact specs by key.
type Schema map[string]FactSpec

// SchemaOf builds the schema of a probe list. Duplicate keys panic: they are
// a programming error caught by the registry test.
func SchemaOf(ps []Probe) Schema {
	s := Schema{}
	for _, p := range ps {
		for _, spec := range p.Facts() {
			if _, dup := s[spec.Key]; dup {
				panic("duplicate fact key " + spec.Key)
			}
			s[spec.Key] = spec
		}
	}
	return s
}

// Decode turns a raw decoded map into typed Facts, rejecting unknown keys
// and values of the wrong type. Errors name the offending key.
func (s Schema) Decode(raw map[string]any) (Facts, []error) {
	out := Facts{}
	var errs []error
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec, ok := s[k]
		if !ok {
			errs = append(errs, fmt.Errorf("facts.%q: unknown fact key", k))
			continue
		}
		v, err := Coerce(spec, raw[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("facts.%q: %v", k, err))
			continue
		}
		out[k] = v
	}
	return out, errs
}

// CoerceObservation restores the declared types of facts that went through JSON.
func CoerceObservation(p Probe, o *Observation) error {
	specs := Schema{}
	for _, s := range p.Facts() {
		specs[s.Key] = s
	}
	for k, v := range o.Facts {
		spec, ok := specs[k]
		if !ok {
			return fmt.Errorf("probe %s set undeclared fact %q", p.ID(), k)
		}
		c, err := Coerce(spec, v)
		if err != nil {
			return fmt.Errorf("probe %s fact %q: %v", p.ID(), k, err)
		}
		o.Facts[k] = c
	}
	return nil
}
