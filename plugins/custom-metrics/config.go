package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"wasmplugin.test/plugins/go-common/pluginconfig"
)

// config is the parsed pluginConfig, defaults applied. Immutable after parseConfig.
type config struct {
	prefix      string
	buckets     []float64 // upper bounds in seconds, strictly increasing
	unknownKeys []string
}

const (
	defaultPrefix = "custom"
	maxBuckets    = 30
)

// Prometheus' client default buckets (seconds).
var defaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

func parseConfig(data []byte) (*config, error) {
	o, err := pluginconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	c := &config{prefix: defaultPrefix, buckets: defaultBuckets}
	if v, ok, err := o.Str("metrics_prefix"); err != nil {
		return nil, err
	} else if ok {
		if !metricName.MatchString(v) {
			return nil, pluginconfig.KeyError("metrics_prefix", "must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got %q", v)
		}
		c.prefix = v
	}
	raw, ok := o.Get("histogram_buckets")
	if ok {
		if pluginconfig.Kind(raw) != "array" {
			return nil, pluginconfig.KeyError("histogram_buckets", "expected a list of numbers (seconds), got %s", pluginconfig.Kind(raw))
		}
		var items []any
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, pluginconfig.KeyError("histogram_buckets", "invalid list: %v", err)
		}
		if len(items) == 0 || len(items) > maxBuckets {
			return nil, pluginconfig.KeyError("histogram_buckets", "must hold 1 to %d bounds, got %d", maxBuckets, len(items))
		}
		c.buckets = make([]float64, 0, len(items))
		for i, it := range items {
			key := fmt.Sprintf("histogram_buckets[%d]", i)
			f, isNum := it.(float64)
			if !isNum {
				return nil, pluginconfig.KeyError(key, "expected a number of seconds, got %s", kindOf(it))
			}
			if !(f > 0) || math.IsInf(f, 0) {
				return nil, pluginconfig.KeyError(key, "must be a positive number of seconds, got %v", f)
			}
			if i > 0 && f <= c.buckets[i-1] {
				return nil, pluginconfig.KeyError(key, "bounds must increase strictly, got %v after %v", f, c.buckets[i-1])
			}
			c.buckets = append(c.buckets, f)
		}
	}
	c.unknownKeys = o.Unknown()
	return c, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "number"
}

// formatBound renders a bucket bound for the le label the way the host renders
// its own histogram bounds: integers without a fraction ("1"), others in the
// shortest form ("0.05").
func formatBound(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// UnknownKeys are the top-level keys this plugin does not know (logged as warnings at start).
func (c *config) UnknownKeys() []string { return c.unknownKeys }

// Summary is what the start-up log line says about the configuration.
func (c *config) Summary() string {
	les := make([]string, len(c.buckets))
	for i, b := range c.buckets {
		les[i] = formatBound(b)
	}
	return fmt.Sprintf("metrics_prefix=%s histogram_buckets=[%s]", c.prefix, strings.Join(les, ","))
}
