package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// store is the host's shared key/value data (proxy_get/set_shared_data): one
// table per vm_id in the process, with compare-and-swap versions.
type store interface {
	get(key string) (value []byte, cas uint32, err error)
	set(key string, value []byte, cas uint32) error
}

// outcome of counting one request.
type outcome struct {
	allowed bool
	count   uint64 // requests in the current window, this one included when allowed
	resetAt int64  // Unix second at which the current window ends
}

// maxCASAttempts bounds the retries when other VMs update the same counter.
const maxCASAttempts = 16

// counterKey names the shared-data entry of one rule and client. Plugins (and
// VMs) with the same window and path prefix share the count.
func counterKey(r rule, client string) string {
	p := r.prefix
	if p == "" {
		p = "*"
	}
	return "rate-limiter:" + strconv.FormatInt(r.window, 10) + "s:" + p + ":" + client
}

// take counts one request against r in the fixed window containing now. The
// entry holds the window's start and its count (16 bytes); a new window
// replaces it, so there is one entry per rule and client. Updates use CAS and
// retry on a mismatch. An error means the count could not be kept.
func take(s store, key string, r rule, now int64) (outcome, error) {
	start := now - now%r.window
	out := outcome{resetAt: start + r.window}
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		val, cas, err := s.get(key)
		var count uint64
		switch {
		case err == nil:
			if st, n, ok := decodeCounter(val); ok && st == start {
				count = n
			}
		case errors.Is(err, types.ErrorStatusNotFound):
			cas = 0 // first use of this key: an unconditional set
		default:
			return out, fmt.Errorf("reading shared data %q: %v", key, err)
		}
		if count >= r.limit {
			out.count = count
			return out, nil
		}
		err = s.set(key, encodeCounter(start, count+1), cas)
		if err == nil {
			out.allowed, out.count = true, count+1
			return out, nil
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return out, fmt.Errorf("writing shared data %q: %v", key, err)
		}
	}
	return out, fmt.Errorf("shared data %q: still contended after %d attempts", key, maxCASAttempts)
}

func encodeCounter(start int64, count uint64) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(start))
	binary.LittleEndian.PutUint64(b[8:], count)
	return b
}

func decodeCounter(b []byte) (start int64, count uint64, ok bool) {
	if len(b) != 16 {
		return 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(b)), binary.LittleEndian.Uint64(b[8:]), true
}
