// Package pluginconfig reads a plugin's pluginConfig (JSON) key by key, with
// types checked and defaults left to the caller. Every error names the key,
// so a bad configuration fails on_configure with one line the user can act on:
//
//	pluginConfig.path_limits[0].limit: expected an integer, got string
//
// Keys that were never asked for are listed by Unknown, for a warning (a
// WasmPlugin may carry keys meant for another version of the plugin) or an
// error (inside a nested object, where they are most likely typos).
package pluginconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Error is a configuration problem at one key ("" = the whole document).
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "pluginConfig: " + e.Msg
	}
	return "pluginConfig." + e.Key + ": " + e.Msg
}

// KeyError is an *Error at key with a formatted message.
func KeyError(key, format string, args ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Object is one JSON object whose keys are read once each. Nested objects
// (Child) carry their path as a prefix, so their errors name the full key.
type Object struct {
	prefix string
	raw    map[string]json.RawMessage
	seen   map[string]bool
}

// Parse reads the plugin configuration. Empty input means "{}".
func Parse(data []byte) (*Object, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return nil, &Error{Msg: "must be a JSON object, got " + Kind(data)}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &Error{Msg: "invalid JSON: " + err.Error()}
	}
	return &Object{raw: raw, seen: map[string]bool{}}, nil
}

// Child reads data, the value found at key (or at a list item such as
// "path_limits[0]"), as a nested object.
func (o *Object) Child(key string, data json.RawMessage) (*Object, error) {
	name := o.prefix + key
	if Kind(data) != "object" {
		return nil, KeyError(name, "expected an object, got %s", Kind(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, KeyError(name, "invalid object: %v", err)
	}
	return &Object{prefix: name + ".", raw: raw, seen: map[string]bool{}}, nil
}

// Get returns the raw value of key; a JSON null counts as absent.
func (o *Object) Get(key string) (json.RawMessage, bool) {
	o.seen[key] = true
	v, ok := o.raw[key]
	if !ok || Kind(v) == "null" {
		return nil, false
	}
	return v, true
}

// Has reports whether key is present (and not null).
func (o *Object) Has(key string) bool {
	_, ok := o.Get(key)
	return ok
}

// Name is the full name of key for messages, e.g. "rate_limit_response.body".
func (o *Object) Name(key string) string { return o.prefix + key }

// Keys lists the object's keys, sorted: for objects whose keys are data
// (a map of header names, say) rather than a fixed schema.
func (o *Object) Keys() []string {
	out := make([]string, 0, len(o.raw))
	for k := range o.raw {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KindOf is the JSON kind of key's value ("null" for a null, "nothing" when absent).
func (o *Object) KindOf(key string) string { return Kind(o.raw[key]) }

// Str reads a string. ok is false when the key is absent.
func (o *Object) Str(key string) (v string, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok {
		return "", false, nil
	}
	if Kind(raw) != "string" || json.Unmarshal(raw, &v) != nil {
		return "", true, KeyError(o.Name(key), "expected a string, got %s", Kind(raw))
	}
	return v, true, nil
}

// Bool reads true or false.
func (o *Object) Bool(key string) (v bool, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok {
		return false, false, nil
	}
	if Kind(raw) != "boolean" || json.Unmarshal(raw, &v) != nil {
		return false, true, KeyError(o.Name(key), "expected true or false, got %s", Kind(raw))
	}
	return v, true, nil
}

// Number reads any JSON number.
func (o *Object) Number(key string) (v float64, ok bool, err error) {
	raw, ok := o.Get(key)
	if !ok {
		return 0, false, nil
	}
	if Kind(raw) != "number" || json.Unmarshal(raw, &v) != nil {
		return 0, true, KeyError(o.Name(key), "expected a number, got %s", Kind(raw))
	}
	return v, true, nil
}

// Int accepts a JSON number with no fractional part within [min, max].
func (o *Object) Int(key string, min, max int64) (int64, bool, error) {
	f, ok, err := o.Number(key)
	if err != nil {
		return 0, true, KeyError(o.Name(key), "expected an integer, got %s", o.KindOf(key))
	}
	if !ok {
		return 0, false, nil
	}
	if f != math.Trunc(f) {
		return 0, true, KeyError(o.Name(key), "expected an integer, got %v", f)
	}
	if f < float64(min) || f > float64(max) {
		return 0, true, KeyError(o.Name(key), "must be between %d and %d, got %v", min, max, f)
	}
	return int64(f), true, nil
}

// Strings accepts a list of strings, or a single string when single is true.
func (o *Object) Strings(key string, single bool) ([]string, bool, error) {
	raw, ok := o.Get(key)
	if !ok {
		return nil, false, nil
	}
	if single && Kind(raw) == "string" {
		var s string
		_ = json.Unmarshal(raw, &s)
		return []string{s}, true, nil
	}
	var items []json.RawMessage
	if Kind(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		want := "a list of strings"
		if single {
			want = "a string or a list of strings"
		}
		return nil, true, KeyError(o.Name(key), "expected %s, got %s", want, Kind(raw))
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		var s string
		if Kind(it) != "string" || json.Unmarshal(it, &s) != nil {
			return nil, true, KeyError(fmt.Sprintf("%s[%d]", o.Name(key), i), "expected a string, got %s", Kind(it))
		}
		out = append(out, s)
	}
	return out, true, nil
}

// Unknown lists, sorted and with their full names, the keys never asked for.
func (o *Object) Unknown() []string {
	var out []string
	for k := range o.raw {
		if !o.seen[k] {
			out = append(out, o.prefix+k)
		}
	}
	sort.Strings(out)
	return out
}

// Kind names the JSON kind of a raw value, for messages: string, object,
// array, boolean, null, number, or nothing for empty input.
func Kind(v []byte) string {
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
