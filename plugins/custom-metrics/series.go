package main

import (
	"math"
	"strings"
)

// names are the stat names of one (method, status) series. The host turns the
// ".key=value" segments into Prometheus labels.
type names struct {
	requests string   // <prefix>_requests_total
	buckets  []string // <prefix>_request_duration_seconds_bucket ... le=<bound>, one per bound
	inf      string   // ... le=+Inf
	count    string   // <prefix>_request_duration_seconds_count
	sum      string   // <prefix>_request_duration_microseconds_sum
}

func seriesNames(c *config, method, status string) names {
	tags := ".method=" + method + ".status=" + status
	hist := c.prefix + "_request_duration_seconds"
	n := names{
		requests: c.prefix + "_requests_total" + tags,
		inf:      hist + "_bucket" + tags + ".le=+Inf",
		count:    hist + "_count" + tags,
		sum:      c.prefix + "_request_duration_microseconds_sum" + tags,
	}
	for _, b := range c.buckets {
		n.buckets = append(n.buckets, hist+"_bucket"+tags+".le="+formatBound(b))
	}
	return n
}

// boundsNS converts bucket bounds to nanoseconds, so that an observation is
// placed by integer comparison (no float rounding at the edges).
func boundsNS(buckets []float64) []int64 {
	out := make([]int64, len(buckets))
	for i, b := range buckets {
		out[i] = int64(math.Round(b * 1e9))
	}
	return out
}

// firstBucket is the index of the smallest bound >= d; every bucket from there
// on counts the observation (Prometheus buckets are cumulative). len(bounds)
// means only +Inf.
func firstBucket(bounds []int64, d int64) int {
	for i, b := range bounds {
		if d <= b {
			return i
		}
	}
	return len(bounds)
}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true,
}

// normalizeMethod keeps label cardinality bounded: unknown methods are "OTHER".
func normalizeMethod(m string) string {
	m = strings.ToUpper(m)
	if knownMethods[m] {
		return m
	}
	return "OTHER"
}

// normalizeStatus accepts a three-digit code 100..599; anything else is "0".
func normalizeStatus(s string) string {
	if len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' {
		return s
	}
	return "0"
}
