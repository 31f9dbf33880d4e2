package main

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recorder counts checks and prints one line per check.
type recorder struct {
	passed, failed int
	// unimplemented counts failures that are only "the plugin answered
	// UNIMPLEMENTED" (the registry-mode RPCs of an unfinished build).
	unimplemented int
	calls         int
}

func (r *recorder) ok(name string, detailf string, args ...interface{}) {
	r.passed++
	if detailf == "" {
		fmt.Printf("  ok    %s\n", name)
		return
	}
	fmt.Printf("  ok    %s (%s)\n", name, fmt.Sprintf(detailf, args...))
}

func (r *recorder) fail(name string, detailf string, args ...interface{}) {
	r.failed++
	fmt.Printf("  FAIL  %s: %s\n", name, fmt.Sprintf(detailf, args...))
}

// check records cond as a pass or a failure with the given detail.
func (r *recorder) check(name string, cond bool, detailf string, args ...interface{}) bool {
	if cond {
		r.ok(name, "")
	} else {
		r.fail(name, detailf, args...)
	}
	return cond
}

// rpcErr records a failed RPC; it reports UNIMPLEMENTED distinctly so an
// unfinished plugin build is told apart from a broken one.
func (r *recorder) rpcErr(name string, err error) {
	if status.Code(err) == codes.Unimplemented {
		r.unimplemented++
		r.fail(name, "plugin answered UNIMPLEMENTED (this build does not implement the RPC yet): %v", err)
		return
	}
	r.fail(name, "RPC failed: %v", err)
}

// validation is the outcome of a Validate* RPC. The plugin may reject input
// with valid=false+error or with a gRPC INVALID_ARGUMENT status; both count.
type validation struct {
	valid bool
	text  string
	how   string // "response" or "INVALID_ARGUMENT"
	err   error  // any other RPC failure
}

func toValidation(valid bool, text string, err error) validation {
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
			return validation{valid: false, text: st.Message(), how: "INVALID_ARGUMENT"}
		}
		return validation{err: err}
	}
	return validation{valid: valid, text: text, how: "response"}
}
