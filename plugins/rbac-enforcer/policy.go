package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// question is what the policy service is asked, as JSON:
//
//	{"subject": "alice", "method": "GET", "path": "/api/orders", "scopes": ["read"]}
//
// subject is "" for an anonymous request; path carries no query string.
type question struct {
	Subject string   `json:"subject"`
	Method  string   `json:"method"`
	Path    string   `json:"path"`
	Scopes  []string `json:"scopes"`
}

func newQuestion(subject, method, path, scopes string) question {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	sc := strings.Fields(scopes)
	if sc == nil {
		sc = []string{}
	}
	return question{Subject: subject, Method: method, Path: path, Scopes: sc}
}

func (q question) key() string {
	return q.Subject + "\x00" + q.Method + "\x00" + q.Path + "\x00" + strings.Join(q.Scopes, " ")
}

func (q question) body() []byte {
	b, _ := json.Marshal(q)
	return b
}

// decision is the policy service's answer: HTTP 200 with {"allow": bool} and
// an optional "reason" string.
type decision struct {
	allow  bool
	reason string
}

// parseDecision reads the answer. Anything but a 200 with a JSON object that
// has a boolean "allow" is an error, and the caller denies (fails closed).
func parseDecision(status string, body []byte) (decision, error) {
	if status != "200" {
		return decision{}, fmt.Errorf("HTTP status %s", status)
	}
	var raw struct {
		Allow  *bool  `json:"allow"`
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return decision{}, fmt.Errorf("answer is not the expected JSON object: %v", err)
	}
	if raw.Allow == nil {
		return decision{}, errors.New(`answer has no boolean "allow"`)
	}
	return decision{allow: *raw.Allow, reason: printable(raw.Reason, 200)}, nil
}

// printable trims s to n bytes of printable ASCII for logs and reply bodies.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decisionCache remembers answers for ttl seconds. It is per plugin instance
// (per VM), bounded, and swept of expired entries when it fills up.
type decisionCache struct {
	ttl     int64
	max     int
	entries map[string]cached
}

type cached struct {
	d       decision
	expires int64
}

func newDecisionCache(ttl int64, max int) *decisionCache {
	return &decisionCache{ttl: ttl, max: max, entries: map[string]cached{}}
}

func (c *decisionCache) get(key string, now int64) (decision, bool) {
	e, ok := c.entries[key]
	if !ok {
		return decision{}, false
	}
	if now >= e.expires {
		delete(c.entries, key)
		return decision{}, false
	}
	return e.d, true
}

func (c *decisionCache) put(key string, d decision, now int64) {
	if c.ttl <= 0 {
		return
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now >= e.expires {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			c.entries = map[string]cached{}
		}
	}
	c.entries[key] = cached{d: d, expires: now + c.ttl}
}
