package main

// Load-driver mode for the benchmarks: the plugin is loaded by go-plugin with
// the control plane's settings (AutoMTLS, gRPC), registered and attached once,
// and then driven by commands read from stdin, one per line:
//
//	execute <count> <concurrency> <envelope-bytes>
//
// Each command answers with one stdout line, `drive: {json}`, holding every
// Execute's latency in milliseconds, the failures and the elapsed time, so
// the benchmark can interleave these runs with its floor. Envelopes are
// DSSE-shaped JSON of exactly the requested size, distinct per Execute,
// built before the clock starts, and the CPU that building took is reported
// (setupCpuMs) so the benchmark can leave it out of the host's share: 1 MiB
// of random base64 costs about 5 ms, more than the host's own work per
// Execute. EOF on stdin ends the session (Kill).

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"gohostapi/api"
)

type driveResult struct {
	LatenciesMs []float64 `json:"latenciesMs"`
	Failures    []string  `json:"failures"`
	ElapsedMs   float64   `json:"elapsedMs"`
	HostPid     int       `json:"hostPid"`
	// CPU of this process spent building the envelopes, before the clock.
	SetupCpuMs float64 `json:"setupCpuMs"`
}

// processCPU is this process's user + system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runDriver(path, repository, username, password string) int {
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohost: %v\n", err)
		return exitUsage
	}
	// Like the control plane, every plugin log line is parsed and re-logged
	// (here into a discarded JSON log, so the host pays the same work).
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Info, JSONFormat: true, Output: ioutil.Discard})
	client := newClient(abs, logger, ioutil.Discard)
	defer client.Kill()
	rpcClient, err := client.Client()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohost: handshake: %v\n", err)
		return exitFailed
	}
	raw, err := rpcClient.Dispense(pluginName)
	fan, ok := raw.(api.FanoutServiceClient)
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "gohost: dispense: %v\n", err)
		return exitFailed
	}
	c, cancel := context.WithTimeout(context.Background(), 3*rpcTimeout)
	defer cancel()
	payload, _ := json.Marshal(map[string]string{"repository": repository, "username": username, "password": password})
	reg, err := fan.Register(c, &api.RegisterRequest{Payload: payload})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohost: Register: %v\n", err)
		return exitFailed
	}
	att, err := fan.Attach(c, &api.AttachRequest{Payload: []byte(`{}`), RegistrationInfo: reg})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohost: Attach: %v\n", err)
		return exitFailed
	}
	fmt.Println("drive: ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var count, concurrency, size int
		if _, err := fmt.Sscanf(strings.TrimSpace(in.Text()), "execute %d %d %d", &count, &concurrency, &size); err != nil || count < 1 || concurrency < 1 || size < 256 {
			fmt.Fprintf(os.Stderr, "gohost: bad command %q (want: execute <count> <concurrency> <envelope-bytes>)\n", in.Text())
			return exitUsage
		}
		res := drive(fan, reg, att, count, concurrency, size)
		out, _ := json.Marshal(res)
		fmt.Printf("drive: %s\n", out)
	}
	return exitOK
}

func drive(fan api.FanoutServiceClient, reg *api.RegisterResponse, att *api.AttachResponse, count, concurrency, size int) driveResult {
	setup := processCPU()
	envelopes := make([][]byte, count)
	for i := range envelopes {
		envelopes[i] = makeEnvelope(size)
	}
	res := driveResult{LatenciesMs: make([]float64, 0, count), Failures: []string{}, HostPid: os.Getpid()}
	res.SetupCpuMs = float64(processCPU()-setup) / 1e6
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan []byte)
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for env := range next {
				c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				t := time.Now()
				_, err := fan.Execute(c, &api.ExecuteRequest{RegistrationInfo: reg, AttachmentInfo: att, Envelope: env})
				ms := float64(time.Since(t).Nanoseconds()) / 1e6
				cancel()
				mu.Lock()
				if err != nil {
					if len(res.Failures) < 20 {
						res.Failures = append(res.Failures, err.Error())
					}
				} else {
					res.LatenciesMs = append(res.LatenciesMs, ms)
				}
				mu.Unlock()
			}
		}()
	}
	for _, env := range envelopes {
		next <- env
	}
	close(next)
	wg.Wait()
	res.ElapsedMs = float64(time.Since(start).Nanoseconds()) / 1e6
	return res
}

// makeEnvelope mirrors bench/envelopes.ts: {"payloadType":...,"payload":"<base64>","signatures":[{"keyid":"k…","sig":"<hex>"}]},
// written straight into one buffer of the final size.
func makeEnvelope(size int) []byte {
	const head = `{"payloadType":"application/vnd.in-toto+json","payload":"`
	const tail = `"}]}`
	const sigHex = 128
	fixed := len(head) + len(`","signatures":[{"keyid":"","sig":"`) + sigHex + len(tail)
	room := size - fixed
	payloadLen := room - room%4
	raw := make([]byte, payloadLen/4*3)
	sig := make([]byte, sigHex/2)
	_, _ = rand.Read(raw)
	_, _ = rand.Read(sig)
	out := make([]byte, 0, size)
	out = append(out, head...)
	at := len(out)
	out = out[:at+payloadLen]
	base64.StdEncoding.Encode(out[at:], raw)
	out = append(out, `","signatures":[{"keyid":"`+strings.Repeat("k", room-payloadLen)+`","sig":"`...)
	at = len(out)
	out = out[:at+sigHex]
	hex.Encode(out[at:], sig)
	out = append(out, tail...)
	return out
}
