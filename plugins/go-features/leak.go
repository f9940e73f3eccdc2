package main

// The deliberate leak: every call keeps a freshly written block reachable forever, so the guest's
// linear memory grows by about the block size per request and never shrinks. Writing every byte
// makes the pages real, not just reserved.

const defaultLeakBytes = 64 * 1024

var leaked [][]byte
var leakedBytes int

// leak keeps n more bytes alive and returns the total kept so far.
func leak(n int) int {
	block := make([]byte, n)
	for i := range block {
		block[i] = byte(i*31 + len(leaked))
	}
	leaked = append(leaked, block)
	leakedBytes += n
	return leakedBytes
}

func leakedTotal() int { return leakedBytes }
