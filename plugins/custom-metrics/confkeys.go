package main

// Typed reads of pluginConfig keys. Every error names the key, so a bad
// configuration fails on_configure with one line the user can act on.
// (Each Go demo plugin carries its own copy: plugins are self-contained modules.)

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

type configError struct {
	key string
	msg string
}

func (e *configError) Error() string {
	if e.key == "" {
		return "pluginConfig: " + e.msg
	}
	return "pluginConfig." + e.key + ": " + e.msg
}

func keyErr(key, format string, args ...any) error {
	return &configError{key: key, msg: fmt.Sprintf(format, args...)}
}

// object is one JSON object whose keys are read once each.
type object struct {
	prefix string
	raw    map[string]json.RawMessage
	seen   map[string]bool
}

// parseObject reads the plugin configuration. Empty input means "{}".
func parseObject(data []byte) (*object, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return nil, &configError{msg: "must be a JSON object, got " + jsonKind(data)}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &configError{msg: "invalid JSON: " + err.Error()}
	}
	return &object{raw: raw, seen: map[string]bool{}}, nil
}

func (o *object) child(key string, data json.RawMessage) (*object, error) {
	name := o.prefix + key
	if jsonKind(data) != "object" {
		return nil, keyErr(name, "expected an object, got %s", jsonKind(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, keyErr(name, "invalid object: %v", err)
	}
	return &object{prefix: name + ".", raw: raw, seen: map[string]bool{}}, nil
}

// get returns the raw value of key; a JSON null counts as absent.
func (o *object) get(key string) (json.RawMessage, bool) {
	o.seen[key] = true
	v, ok := o.raw[key]
	if !ok || jsonKind(v) == "null" {
		return nil, false
	}
	return v, true
}

func (o *object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

func (o *object) name(key string) string { return o.prefix + key }

func (o *object) str(key string) (string, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return "", false, nil
	}
	var s string
	if jsonKind(v) != "string" || json.Unmarshal(v, &s) != nil {
		return "", true, keyErr(o.name(key), "expected a string, got %s", jsonKind(v))
	}
	return s, true, nil
}

func (o *object) boolean(key string) (bool, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return false, false, nil
	}
	var b bool
	if jsonKind(v) != "boolean" || json.Unmarshal(v, &b) != nil {
		return false, true, keyErr(o.name(key), "expected true or false, got %s", jsonKind(v))
	}
	return b, true, nil
}

func (o *object) number(key string) (float64, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	var f float64
	if jsonKind(v) != "number" || json.Unmarshal(v, &f) != nil {
		return 0, true, keyErr(o.name(key), "expected a number, got %s", jsonKind(v))
	}
	return f, true, nil
}

// integer accepts a JSON number with no fractional part within [min, max].
func (o *object) integer(key string, min, max int64) (int64, bool, error) {
	f, ok, err := o.number(key)
	if !ok || err != nil {
		if err != nil {
			err = keyErr(o.name(key), "expected an integer, got %s", jsonKind(o.raw[key]))
		}
		return 0, ok, err
	}
	if f != math.Trunc(f) {
		return 0, true, keyErr(o.name(key), "expected an integer, got %v", f)
	}
	if f < float64(min) || f > float64(max) {
		return 0, true, keyErr(o.name(key), "must be between %d and %d, got %v", min, max, f)
	}
	return int64(f), true, nil
}

// strings accepts a list of strings, or a single string when single is true.
func (o *object) strings(key string, single bool) ([]string, bool, error) {
	v, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	if single && jsonKind(v) == "string" {
		var s string
		_ = json.Unmarshal(v, &s)
		return []string{s}, true, nil
	}
	var items []json.RawMessage
	if jsonKind(v) != "array" || json.Unmarshal(v, &items) != nil {
		want := "a list of strings"
		if single {
			want = "a string or a list of strings"
		}
		return nil, true, keyErr(o.name(key), "expected %s, got %s", want, jsonKind(v))
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		var s string
		if jsonKind(it) != "string" || json.Unmarshal(it, &s) != nil {
			return nil, true, keyErr(fmt.Sprintf("%s[%d]", o.name(key), i), "expected a string, got %s", jsonKind(it))
		}
		out = append(out, s)
	}
	return out, true, nil
}

// unknown lists keys that were never asked for (logged as warnings, not errors:
// a WasmPlugin may carry keys meant for another version of the plugin).
func (o *object) unknown() []string {
	var out []string
	for k := range o.raw {
		if !o.seen[k] {
			out = append(out, o.prefix+k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
