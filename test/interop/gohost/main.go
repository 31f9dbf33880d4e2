// Command gohost loads the one-file plugin executable exactly as Chainloop's
// control plane does (HashiCorp go-plugin, gRPC, AutoMTLS, the Chainloop
// handshake) and drives api.FanoutService against it. It exits 0 only when
// every check passed; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"gohostapi/api"
)

const (
	exitOK            = 0
	exitFailed        = 1
	exitUsage         = 2
	exitUnimplemented = 3 // every failure was an UNIMPLEMENTED answer
)

const rpcTimeout = 15 * time.Second

func main() {
	pluginPath := flag.String("plugin", "", "path of the plugin executable (required)")
	registry := flag.String("registry", "", "host:port of a plain-HTTP OCI registry: also run Register/Attach/Execute")
	envelope := flag.String("envelope", "", "envelope file to Execute with (registry mode)")
	username := flag.String("username", "gohost", "registration username (registry mode)")
	password := flag.String("password", "gohost-secret-pw", "registration password (registry mode)")
	verbose := flag.Bool("v", false, "print the host's captured log at the end")
	expectRegisterError := flag.String("expect-register-error", "", "registry mode: Register must fail with a message containing each comma-separated part")
	startupRuns := flag.Int("startup", 0, "start-up mode for the benchmarks: launch the plugin N times, print the start→Dispense times")
	driveRepository := flag.String("drive", "", "load-driver mode for the benchmarks: register REPOSITORY, then run the commands read from stdin (see driver.go)")
	noAutoMTLS := flag.Bool("no-automtls", false, "drive mode: plaintext gRPC (AutoMTLS off), to measure what TLS costs; Chainloop keeps it on")
	flag.Parse()
	autoMTLS = !*noAutoMTLS

	if *pluginPath == "" || (*registry != "" && *envelope == "") {
		fmt.Fprintln(os.Stderr, "usage: gohost -plugin PATH [-registry HOST:PORT -envelope FILE] [-v]")
		os.Exit(exitUsage)
	}
	if *pluginPath != "" && *startupRuns > 0 {
		os.Exit(runStartup(*pluginPath, *startupRuns))
	}
	if *pluginPath != "" && *driveRepository != "" {
		os.Exit(runDriver(*pluginPath, *driveRepository, *username, *password))
	}
	abs, err := filepath.Abs(*pluginPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohost: %v\n", err)
		os.Exit(exitUsage)
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(os.Stderr, "gohost: %s is not an executable file\n", abs)
		os.Exit(exitUsage)
	}
	os.Exit(run(abs, *registry, *envelope, *username, *password, *expectRegisterError, *verbose))
}

func run(path, registry, envelopePath, username, password, expectRegisterError string, verbose bool) int {
	r := &recorder{}
	hostLog := &lockedBuffer{}
	stderrCopy := &lockedBuffer{}
	// The host logger writes JSON at trace level into a buffer that is
	// inspected after Kill: go-plugin re-logs every plugin stderr line
	// through logger.Named(<executable base name>).
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "host",
		Level:      hclog.Trace,
		JSONFormat: true,
		Output:     hostLog,
	})
	client := newClient(path, logger, stderrCopy)
	killed := false
	defer func() {
		if !killed {
			client.Kill()
		}
	}()

	mode := "contract"
	if registry != "" {
		mode = "contract+registry " + registry
	}
	fmt.Printf("gohost: loading %s (mode: %s)\n", path, mode)

	start := time.Now()
	rpcClient, err := client.Client()
	if err != nil {
		r.fail("handshake (CHAINLOOP_PLUGIN cookie, protocol 0, grpc, AutoMTLS)", "%v", err)
	} else {
		r.ok("handshake (CHAINLOOP_PLUGIN cookie, protocol 0, grpc, AutoMTLS)", "%d ms, negotiated version %d",
			time.Since(start).Milliseconds(), client.NegotiatedVersion())
		r.calls++
		if err := rpcClient.Ping(); err != nil {
			r.fail("grpc.health.v1 Check(\"plugin\")", "%v", err)
		} else {
			r.ok("grpc.health.v1 Check(\"plugin\")", "")
		}
		raw, err := rpcClient.Dispense(pluginName)
		fan, isFan := raw.(api.FanoutServiceClient)
		if err != nil || !isFan {
			r.fail("dispense "+pluginName, "%v (%T)", err, raw)
		} else {
			r.ok("dispense "+pluginName, "")
			runContract(fan, r)
			if registry != "" {
				runRegistry(fan, r, registry, envelopePath, username, password, expectRegisterError)
			}
		}
	}

	killStart := time.Now()
	client.Kill()
	killed = true
	killDur := time.Since(killStart)
	r.check("Kill returns within 2 s", killDur < 2*time.Second, "Kill took %d ms", killDur.Milliseconds())
	r.check("plugin process has exited after Kill", client.Exited(), "go-plugin still reports the process alive")

	stats := inspectLogs(r, path, hostLog, stderrCopy, verbose)

	fmt.Printf("gohost summary: rpc calls=%d, plugin stderr lines=%d, structured=%d, raw=%d, kill=%dms\n",
		r.calls, stats.stderrLines, stats.structured, stats.raw, killDur.Milliseconds())
	fmt.Printf("gohost checks: passed=%d failed=%d unimplemented=%d\n", r.passed, r.failed, r.unimplemented)
	switch {
	case r.failed == 0:
		return exitOK
	case r.failed == r.unimplemented:
		return exitUnimplemented
	default:
		return exitFailed
	}
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), rpcTimeout)
}

type logStats struct {
	stderrLines, structured, raw int
}

// inspectLogs checks, after Kill (go-plugin has drained stderr by then), what
// the plugin wrote to stderr and how go-plugin re-logged it.
func inspectLogs(r *recorder, path string, hostLog, stderrCopy *lockedBuffer, verbose bool) logStats {
	var st logStats
	pluginModule := "host." + filepath.Base(path)

	entries, unparsable := parseHostLog(hostLog.lines())
	if verbose {
		fmt.Println("--- host log (JSON hclog, trace) ---")
		for _, l := range hostLog.lines() {
			fmt.Println("  " + l)
		}
		fmt.Println("--- plugin stderr (raw copy) ---")
		for _, l := range stderrCopy.lines() {
			fmt.Println("  " + l)
		}
		fmt.Println("---")
	}
	r.check("host log is well-formed", len(unparsable) == 0, "%d unparsable lines, first: %q", len(unparsable), first(unparsable))

	var rawExamples []string
	graceful, exitedClean := true, true
	var exitErr interface{}
	var hostWarnings []string
	levels := map[string]int{}
	for _, e := range entries {
		if e.Module == pluginModule {
			levels[e.Level]++
			if isRawPluginEntry(e) {
				st.raw++
				rawExamples = append(rawExamples, e.Level+" "+e.Message)
			} else {
				st.structured++
			}
			continue
		}
		if strings.Contains(e.Message, "plugin failed to exit gracefully") {
			graceful = false
		}
		if e.Message == "plugin process exited" {
			if v, ok := e.Fields["error"]; ok {
				exitedClean = false
				exitErr = v
			}
		}
		if e.Level == "warn" || e.Level == "error" {
			hostWarnings = append(hostWarnings, e.Level+": "+e.Message+" "+fmt.Sprint(e.Fields))
		}
	}
	for _, w := range hostWarnings {
		fmt.Println("  go-plugin " + w)
	}
	r.check("no \"plugin failed to exit gracefully\"", graceful, "go-plugin had to force-kill the plugin after its 2 s grace period")
	r.check("plugin exit status 0", exitedClean, "go-plugin logged \"plugin process exited\" with error %v", exitErr)
	r.check("every plugin stderr line reached the host structured (none raw)", st.raw == 0,
		"%d raw line(s), e.g. %q", st.raw, first(rawExamples))

	lines := stderrCopy.lines()
	st.stderrLines = len(lines)
	var badLines []string
	for _, l := range lines {
		if err := checkStderrLine(l); err != nil {
			badLines = append(badLines, fmt.Sprintf("%v in %q", err, clip(l, 200)))
		}
	}
	r.check("every plugin stderr line is hclog JSON (@message/@level/@timestamp, 6-digit fraction)", len(badLines) == 0,
		"%d bad line(s), first: %s", len(badLines), first(badLines))
	fmt.Printf("  info  plugin entries by level: %v\n", levels)
	return st
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
