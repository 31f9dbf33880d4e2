package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// lockedBuffer is an io.Writer safe for the concurrent writers go-plugin uses
// (its stderr reader goroutine and the caller's goroutine).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// hostEntry is one line the host's JSON hclog logger wrote.
type hostEntry struct {
	Level   string
	Message string
	Module  string
	Fields  map[string]interface{}
	Line    string
}

// The layout go-plugin 1.0.1 (log_entry.go) parses @timestamp with; Go's
// parser demands exactly six fractional digits for it.
const pluginTimestampLayout = "2006-01-02T15:04:05.000000Z07:00"

var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$`)

var pluginLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true}

func parseHostLog(lines []string) ([]hostEntry, []string) {
	var entries []hostEntry
	var bad []string
	for _, l := range lines {
		var raw map[string]interface{}
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			bad = append(bad, l)
			continue
		}
		e := hostEntry{Fields: map[string]interface{}{}, Line: l}
		for k, v := range raw {
			switch k {
			case "@level":
				e.Level, _ = v.(string)
			case "@message":
				e.Message, _ = v.(string)
			case "@module":
				e.Module, _ = v.(string)
			case "@timestamp", "@caller":
			default:
				e.Fields[k] = v
			}
		}
		entries = append(entries, e)
	}
	return entries, bad
}

// isRawPluginEntry tells whether go-plugin forwarded a plugin stderr line
// verbatim instead of re-logging a parsed entry. For a parsed entry go-plugin
// always appends a "timestamp" field (taken from @timestamp); a raw line is
// logged as the bare message with no fields at all.
func isRawPluginEntry(e hostEntry) bool {
	if _, ok := e.Fields["timestamp"]; !ok {
		return true
	}
	return strings.HasPrefix(strings.TrimSpace(e.Message), "{")
}

// checkStderrLine validates one raw plugin stderr line against what go-plugin
// 1.0.1 needs to re-log it as a structured entry.
func checkStderrLine(line string) error {
	var raw map[string]interface{}
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	for _, k := range []string{"@message", "@level", "@timestamp"} {
		v, ok := raw[k]
		if !ok {
			return fmt.Errorf("missing %s", k)
		}
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s is %T, not a string", k, v)
		}
	}
	// go-plugin maps the level case-insensitively (hclog.LevelFromString).
	if lvl := raw["@level"].(string); !pluginLevels[strings.ToLower(strings.TrimSpace(lvl))] {
		return fmt.Errorf("@level %q is not one of trace/debug/info/warn/error", lvl)
	}
	ts := raw["@timestamp"].(string)
	if !timestampRE.MatchString(ts) {
		return fmt.Errorf("@timestamp %q does not have exactly 6 fractional digits", ts)
	}
	if _, err := time.Parse(pluginTimestampLayout, ts); err != nil {
		return fmt.Errorf("@timestamp %q: %v", ts, err)
	}
	return nil
}
