package pluginkit

import (
	"errors"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
)

// ErrNoResponse is an http_call that ended without response headers: the
// host reset the call (a timed-out call arrives as a local 504 instead).
var ErrNoResponse = errors.New("no response (connection reset)")

// CallStatus is the :status of the http_call answer being delivered, given the
// numHeaders of the response callback: ErrNoResponse when there are none,
// "none" when the headers carry no :status.
func CallStatus(numHeaders int) (string, error) {
	if numHeaders == 0 {
		return "", ErrNoResponse
	}
	headers, _ := proxywasm.GetHttpCallResponseHeaders()
	return Status(headers), nil
}

// Status is the value of the first :status pair in headers, "none" without one.
func Status(headers [][2]string) string {
	for _, kv := range headers {
		if kv[0] == ":status" {
			return kv[1]
		}
	}
	return "none"
}
