// Command goref is the benchmark's reference plugin: a go-plugin fan-out
// plugin written in Go that stores each envelope with the floor's request
// sequence (bench/floor.ts) through Go's net/http. Driven by the same Go host
// as the real plugin, it measures what the host hop costs any plugin (the
// host's marshal, AutoMTLS, grpc-go's receive) on top of the floor's push,
// with the leanest runtime at hand. It is a yardstick, not a product: no
// validation, no retries, one registration at a time.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"gohostapi/api"
)

// The control plane's handshake, as in test/interop/gohost/plugin.go.
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "CHAINLOOP_PLUGIN",
	MagicCookieValue: "e575e823-335c-4e3b-8bfd-acceef0ae074",
}

const manifestMediaType = "application/vnd.oci.image.manifest.v1+json"

type fanOut struct {
	plugin.NetRPCUnsupportedPlugin
}

func (fanOut) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	api.RegisterFanoutServiceServer(s, &server{client: newHTTPClient(), receiveOnly: os.Getenv("GOREF_RECEIVE_ONLY") == "1"})
	return nil
}

func (fanOut) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, errors.New("goref is a plugin: it has no client side")
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// registration is what Register keeps; the password travels back to the host
// in the response's credentials, as Chainloop stores it.
type registration struct {
	Repository string `json:"repository"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

type server struct {
	api.UnimplementedFanoutServiceServer
	client *http.Client
	// GOREF_RECEIVE_ONLY=1: Execute answers as soon as the request has arrived,
	// so a run measures the host hop alone (marshal, AutoMTLS, receive, decode).
	receiveOnly bool

	mu        sync.Mutex
	challenge *challenge // learned once per process, as a warm client knows it
}

func (s *server) Register(_ context.Context, req *api.RegisterRequest) (*api.RegisterResponse, error) {
	var r registration
	if err := json.Unmarshal(req.Payload, &r); err != nil || r.Repository == "" {
		return nil, fmt.Errorf("goref: registration wants {repository, username, password}")
	}
	conf, _ := json.Marshal(map[string]string{"repository": r.Repository})
	return &api.RegisterResponse{
		Configuration: conf,
		Credentials:   &api.RegisterResponse_Credentials{Url: r.Repository, Username: r.Username, Password: r.Password},
	}, nil
}

func (s *server) Attach(context.Context, *api.AttachRequest) (*api.AttachResponse, error) {
	return &api.AttachResponse{Configuration: []byte(`{}`)}, nil
}

func (s *server) Execute(ctx context.Context, req *api.ExecuteRequest) (*api.ExecuteResponse, error) {
	if s.receiveOnly {
		return &api.ExecuteResponse{}, nil
	}
	creds := req.GetRegistrationInfo().GetCredentials()
	if creds == nil || creds.Url == "" {
		return nil, errors.New("goref: no registration")
	}
	slash := strings.IndexByte(creds.Url, '/')
	if slash < 0 {
		return nil, errors.New("goref: repository wants host/path")
	}
	target := pushTarget{base: "http://" + creds.Url[:slash], path: creds.Url[slash+1:], username: creds.Username, password: creds.Password}
	if err := s.push(ctx, target, req.Envelope); err != nil {
		return nil, err
	}
	return &api.ExecuteResponse{}, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"fanOut": &fanOut{}},
		// The host may send up to 2 GiB; windows as wide as the real plugin advertises.
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(math.MaxInt32),
				grpc.InitialWindowSize(32<<20),
				grpc.InitialConnWindowSize(128<<20),
			)...)
		},
	})
}

// drain reads what is left of a body so the connection is reused.
func drain(res *http.Response) {
	_, _ = io.Copy(ioutil.Discard, res.Body)
	res.Body.Close()
}

// do sends req and wants the given status; any other is an error.
func (s *server) do(req *http.Request, status int, what string) (*http.Response, error) {
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("goref: %s: %w", what, err)
	}
	if res.StatusCode != status {
		drain(res)
		return nil, fmt.Errorf("goref: %s answered %d", what, res.StatusCode)
	}
	return res, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newRequest(ctx context.Context, method, u, auth string, body []byte, contentType string) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, u, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}
