// Command gojsonpb marshals each JSON object read from stdin (one per line) the way istiod turns a
// WasmPlugin's pluginConfig into the plugin's configuration: google.protobuf.Struct through the
// legacy jsonpb marshaler (protomarshal.ToJSON), compact. Output: one line per input, or ERR.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/golang/protobuf/jsonpb"
	"google.golang.org/protobuf/types/known/structpb"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	marshaler := jsonpb.Marshaler{}
	for in.Scan() {
		var v map[string]interface{}
		if err := json.Unmarshal(in.Bytes(), &v); err != nil {
			fmt.Fprintln(out, "ERR", err)
			continue
		}
		s, err := structpb.NewStruct(v)
		if err != nil {
			fmt.Fprintln(out, "ERR", err)
			continue
		}
		text, err := marshaler.MarshalToString(s)
		if err != nil {
			fmt.Fprintln(out, "ERR", err)
			continue
		}
		fmt.Fprintln(out, text)
	}
}
