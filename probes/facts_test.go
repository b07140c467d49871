package probes

import (
	"encoding/json"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestCoerceRoundTripsThroughJSON(t *testing.T) {
	schema := Schema{
		"a": {Key: "a", Type: TypeTri}, "b": {Key: "b", Type: TypeString},
		"c": {Key: "c", Type: TypeInt}, "d": {Key: "d", Type: TypeList},
	}
	in := Facts{"a": Yes, "b": "hybrid", "c": int64(1 << 40), "d": []string{"x", "y"}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	out, errs := schema.Decode(raw)
	if len(errs) > 0 || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %v %v, errors %v", in, out, errs)
	}
}

func TestSchemaDecodeNamesBadKeys(t *testing.T) {
	schema := Schema{"a": {Key: "a", Type: TypeTri}, "c": {Key: "c", Type: TypeInt}}
	_, errs := schema.Decode(map[string]any{"a": "maybe", "c": 1.5, "zzz": "x"})
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", errs)
	}
	joined := ""
	for _, e := range errs {
		joined += e.Error() + "\n"
	}
	for _, want := range []string{`facts."a"`, `facts."c"`, `facts."zzz": unknown fact key`} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors do not name %s:\n%s", want, joined)
		}
	}
}

func TestErrnoRoundTrip(t *testing.T) {
	for _, e := range []syscall.Errno{syscall.EPERM, syscall.ENOENT, syscall.EINVAL, syscall.EROFS, syscall.ENOSYS} {
		got := ErrFromText(ErrorText(e))
		if got != e {
			t.Errorf("%v came back as %v", e, got)
		}
	}
	if ErrFromText("") != nil || ErrorText(nil) != "" {
		t.Error("nil errors must stay nil")
	}
}

func FuzzCoerce(f *testing.F) {
	f.Add(`"yes"`, "tri")
	f.Add(`12`, "int")
	f.Add(`["a"]`, "strings")
	f.Add(`1e400`, "int")
	f.Fuzz(func(t *testing.T, js, typ string) {
		var v any
		if json.Unmarshal([]byte(js), &v) != nil {
			return
		}
		spec := FactSpec{Key: "k", Type: FactType(typ)}
		out, err := Coerce(spec, v)
		if err != nil {
			return
		}
		// Whatever Coerce accepts must be one of the four fact types and
		// survive another round.
		again, err := Coerce(spec, out)
		if err != nil || !reflect.DeepEqual(out, again) {
			t.Fatalf("%v (%T) did not survive a second Coerce: %v %v", out, out, again, err)
		}
	})
}
