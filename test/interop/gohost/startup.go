package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// runStartup launches the plugin n times the way the control plane does and
// prints one `startup: {json}` line with each launch's time from the start of
// the client to a dispensed fanOut client (handshake, TLS, gRPC connect).
func runStartup(path string, n int) int {
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Error, Output: ioutil.Discard})
	var ms []float64
	for i := 0; i < n; i++ {
		start := time.Now()
		client := newClient(path, logger, ioutil.Discard)
		rpcClient, err := client.Client()
		if err == nil {
			_, err = rpcClient.Dispense(pluginName)
		}
		elapsed := time.Since(start)
		client.Kill()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gohost: launch %d: %v\n", i+1, err)
			return exitFailed
		}
		ms = append(ms, float64(elapsed.Microseconds())/1000)
	}
	out, _ := json.Marshal(map[string]interface{}{"ms": ms})
	fmt.Printf("startup: %s\n", out)
	return exitOK
}
