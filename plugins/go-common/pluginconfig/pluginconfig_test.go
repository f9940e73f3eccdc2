package pluginconfig

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, js string) *Object {
	t.Helper()
	o, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	return o
}

func TestDocumentErrors(t *testing.T) {
	for js, want := range map[string]string{
		`[1]`:         "pluginConfig: must be a JSON object, got array",
		`"x"`:         "pluginConfig: must be a JSON object, got string",
		`{"a": 1,}`:   "pluginConfig: invalid JSON",
		`{"a": 1} {}`: "pluginConfig: invalid JSON",
	} {
		if _, err := Parse([]byte(js)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want prefix %q", js, err, want)
		}
	}
	for _, empty := range []string{"", "  \n"} {
		o := mustParse(t, empty)
		if len(o.Keys()) != 0 {
			t.Errorf("empty configuration has keys %v", o.Keys())
		}
	}
}

func TestTypedReads(t *testing.T) {
	o := mustParse(t, `{"s": "x", "b": true, "n": 1.5, "i": 42, "one": "a", "list": ["a", "b"], "nil": null}`)
	if v, ok, err := o.Str("s"); v != "x" || !ok || err != nil {
		t.Errorf("Str = %q %v %v", v, ok, err)
	}
	if v, ok, err := o.Bool("b"); !v || !ok || err != nil {
		t.Errorf("Bool = %v %v %v", v, ok, err)
	}
	if v, ok, err := o.Number("n"); v != 1.5 || !ok || err != nil {
		t.Errorf("Number = %v %v %v", v, ok, err)
	}
	if v, ok, err := o.Int("i", 0, 100); v != 42 || !ok || err != nil {
		t.Errorf("Int = %v %v %v", v, ok, err)
	}
	if v, ok, err := o.Strings("one", true); len(v) != 1 || v[0] != "a" || !ok || err != nil {
		t.Errorf("Strings(single) = %v %v %v", v, ok, err)
	}
	if v, ok, err := o.Strings("list", false); strings.Join(v, ",") != "a,b" || !ok || err != nil {
		t.Errorf("Strings = %v %v %v", v, ok, err)
	}
	// Absent and null keys are absent, without an error.
	for _, k := range []string{"nil", "missing"} {
		if _, ok, err := o.Str(k); ok || err != nil {
			t.Errorf("Str(%s) = %v %v", k, ok, err)
		}
		if _, ok, err := o.Int(k, 0, 1); ok || err != nil {
			t.Errorf("Int(%s) = %v %v", k, ok, err)
		}
	}
	if o.KindOf("nil") != "null" || o.KindOf("missing") != "nothing" || o.KindOf("list") != "array" {
		t.Error("KindOf")
	}
	if u := o.Unknown(); len(u) != 0 {
		t.Errorf("every key was read, Unknown = %v", u)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	o := mustParse(t, `{"s": 1, "b": "yes", "n": "1", "i": 1.5, "big": 1000, "neg": "x", "list": ["a", 2], "one": 3}`)
	check := func(err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	_, _, err := o.Str("s")
	check(err, "pluginConfig.s: expected a string, got number")
	_, _, err = o.Bool("b")
	check(err, "pluginConfig.b: expected true or false, got string")
	_, _, err = o.Number("n")
	check(err, "pluginConfig.n: expected a number, got string")
	_, _, err = o.Int("i", 0, 10)
	check(err, "pluginConfig.i: expected an integer, got 1.5")
	_, _, err = o.Int("big", 0, 10)
	check(err, "pluginConfig.big: must be between 0 and 10, got 1000")
	_, _, err = o.Int("neg", 0, 10)
	check(err, "pluginConfig.neg: expected an integer, got string")
	_, _, err = o.Strings("list", false)
	check(err, "pluginConfig.list[1]: expected a string, got number")
	_, _, err = o.Strings("one", true)
	check(err, "pluginConfig.one: expected a string or a list of strings, got number")
	check(KeyError("x[2].y", "must not be %s", "empty"), "pluginConfig.x[2].y: must not be empty")
}

func TestChildrenPrefixTheirKeysAndUnknownIsSorted(t *testing.T) {
	o := mustParse(t, `{"zeta": 1, "reply": {"status": "x", "extra": 1, "b": 2}, "alpha": 2}`)
	raw, ok := o.Get("reply")
	if !ok {
		t.Fatal("reply")
	}
	c, err := o.Child("reply", raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Int("status", 0, 1); err == nil || err.Error() != "pluginConfig.reply.status: expected an integer, got string" {
		t.Errorf("child error %v", err)
	}
	if got := strings.Join(c.Unknown(), " "); got != "reply.b reply.extra" {
		t.Errorf("child Unknown = %q", got)
	}
	if got := strings.Join(o.Unknown(), " "); got != "alpha zeta" {
		t.Errorf("Unknown = %q", got)
	}
	if got := strings.Join(c.Keys(), " "); got != "b extra status" {
		t.Errorf("Keys = %q", got)
	}
	if _, err := o.Child("list[0]", []byte(`[1]`)); err == nil || err.Error() != "pluginConfig.list[0]: expected an object, got array" {
		t.Errorf("Child of an array: %v", err)
	}
}
