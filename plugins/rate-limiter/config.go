package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"wasmplugin.test/plugins/go-common/pluginconfig"
)

// rule is one limit: at most limit requests per window (fixed windows aligned
// to the Unix epoch) for paths starting with prefix ("" for the default rule).
type rule struct {
	prefix string
	limit  uint64
	window int64 // seconds
}

func (r rule) String() string {
	p := r.prefix
	if p == "" {
		p = "default"
	}
	return fmt.Sprintf("%s %d/%ds", p, r.limit, r.window)
}

// response is the local reply for a rejected request.
type response struct {
	status  uint32
	headers [][2]string
	body    []byte
}

// config is the parsed pluginConfig, defaults applied. Immutable after parseConfig.
type config struct {
	def         rule
	paths       []rule // longest prefix first
	reply       response
	limitBy     string // "global", "client_ip" or "header:<name>"
	limitHeader string // header name for "header:<name>"
	unknownKeys []string
}

const (
	defaultWindow = 60
	maxLimit      = 1 << 40
	maxWindow     = 86400 * 366
)

var defaultReply = response{
	status:  429,
	headers: [][2]string{{"content-type", "application/json"}},
	body:    []byte(`{"error": "rate limit exceeded"}` + "\n"),
}

func parseConfig(data []byte) (*config, error) {
	o, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &config{reply: defaultReply, limitBy: "global"}

	limit, ok, err := o.Int("default_limit", 0, maxLimit)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, pluginconfig.KeyError("default_limit", "required (requests allowed per window for paths without a path_limits entry)")
	}
	window, ok, err := o.Int("default_window_seconds", 1, maxWindow)
	if err != nil {
		return nil, err
	}
	if !ok {
		window = defaultWindow
	}
	c.def = rule{limit: uint64(limit), window: window}

	if raw, ok := o.Get("path_limits"); ok {
		var items []json.RawMessage
		if pluginconfig.Kind(raw) != "array" || json.Unmarshal(raw, &items) != nil {
			return nil, pluginconfig.KeyError("path_limits", "expected a list of {path, limit, window_seconds}, got %s", pluginconfig.Kind(raw))
		}
		for i, it := range items {
			item, err := o.Child(fmt.Sprintf("path_limits[%d]", i), it)
			if err != nil {
				return nil, err
			}
			path, ok, err := item.Str("path")
			if err != nil {
				return nil, err
			}
			if !ok || !strings.HasPrefix(path, "/") {
				return nil, pluginconfig.KeyError(item.Name("path"), "required, a path prefix starting with '/'")
			}
			l, ok, err := item.Int("limit", 0, maxLimit)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, pluginconfig.KeyError(item.Name("limit"), "required")
			}
			w, ok, err := item.Int("window_seconds", 1, maxWindow)
			if err != nil {
				return nil, err
			}
			if !ok {
				w = window
			}
			if unk := item.Unknown(); len(unk) > 0 {
				return nil, pluginconfig.KeyError(unk[0], "unknown key (path_limits entries take path, limit, window_seconds)")
			}
			c.paths = append(c.paths, rule{prefix: path, limit: uint64(l), window: w})
		}
		// Longest prefix wins; among equal prefixes the first listed.
		sort.SliceStable(c.paths, func(a, b int) bool { return len(c.paths[a].prefix) > len(c.paths[b].prefix) })
	}

	if raw, ok := o.Get("rate_limit_response"); ok {
		r, err := o.Child("rate_limit_response", raw)
		if err != nil {
			return nil, err
		}
		if c.reply, err = parseReply(r); err != nil {
			return nil, err
		}
	}

	if v, ok, err := o.Str("limit_by"); err != nil {
		return nil, err
	} else if ok {
		switch {
		case v == "global" || v == "client_ip":
			c.limitBy = v
		case strings.HasPrefix(v, "header:") && len(v) > len("header:") && !strings.ContainsAny(v[7:], " :\t"):
			c.limitBy, c.limitHeader = v, strings.ToLower(v[7:])
		default:
			return nil, pluginconfig.KeyError("limit_by", `must be "global", "client_ip" or "header:<name>", got %q`, v)
		}
	}
	c.unknownKeys = o.Unknown()
	return c, nil
}

func parseReply(r *pluginconfig.Object) (response, error) {
	out := response{status: 429}
	if v, ok, err := r.Int("status_code", 200, 599); err != nil {
		return out, err
	} else if ok {
		out.status = uint32(v)
	}
	if raw, ok := r.Get("headers"); ok {
		h, err := r.Child("headers", raw)
		if err != nil {
			return out, err
		}
		for _, k := range h.Keys() {
			if k == "" || strings.ContainsAny(k, " :\t\r\n") {
				return out, pluginconfig.KeyError(h.Name(k), "not a valid header name")
			}
			var val string
			switch h.KindOf(k) {
			case "string":
				val, _, _ = h.Str(k)
			case "number":
				n, _, err := h.Int(k, 0, 1<<53)
				if err != nil {
					return out, err
				}
				val = strconv.FormatInt(n, 10)
			default:
				return out, pluginconfig.KeyError(h.Name(k), "expected a string, got %s", h.KindOf(k))
			}
			if strings.ContainsAny(val, "\r\n") {
				return out, pluginconfig.KeyError(h.Name(k), "must not contain line breaks")
			}
			out.headers = append(out.headers, [2]string{strings.ToLower(k), val})
		}
	}
	if v, ok, err := r.Str("body"); err != nil {
		return out, err
	} else if ok {
		out.body = []byte(v)
	}
	if unk := r.Unknown(); len(unk) > 0 {
		return out, pluginconfig.KeyError(unk[0], "unknown key (rate_limit_response takes status_code, headers, body)")
	}
	return out, nil
}

// ruleFor picks the path_limits entry with the longest prefix of path (the
// query string is ignored), or the default rule.
func (c *config) ruleFor(path string) rule {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for _, r := range c.paths {
		if strings.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return c.def
}

// UnknownKeys are the top-level keys this plugin does not know (logged as warnings at start).
func (c *config) UnknownKeys() []string { return c.unknownKeys }

// Summary is what the start-up log line says about the configuration.
func (c *config) Summary() string {
	parts := []string{c.def.String()}
	for _, r := range c.paths {
		parts = append(parts, r.String())
	}
	return fmt.Sprintf("limits=[%s] limit_by=%s reply=%d", strings.Join(parts, ", "), c.limitBy, c.reply.status)
}
