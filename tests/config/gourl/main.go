// Command gourl answers, for each JSON string read from stdin (one per line), what Go's net/url
// says about it: the reference the Python port in wasmplugin.config.gourl is tested against.
// Output: one JSON object per line.
package main

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
)

type result struct {
	OK     bool   `json:"ok"`
	Scheme string `json:"scheme"`
	String string `json:"string"`
}

type answer struct {
	RequestURI result `json:"requestURI"`
	Parse      result `json:"parse"`
}

func describe(u *url.URL, err error) result {
	if err != nil {
		return result{}
	}
	return result{OK: true, Scheme: u.Scheme, String: u.String()}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		var s string
		if err := json.Unmarshal(in.Bytes(), &s); err != nil {
			os.Stderr.WriteString("bad input line: " + err.Error() + "\n")
			os.Exit(2)
		}
		var a answer
		a.RequestURI = describe(url.ParseRequestURI(s))
		a.Parse = describe(url.Parse(s))
		if err := enc.Encode(a); err != nil {
			os.Exit(3)
		}
	}
}
