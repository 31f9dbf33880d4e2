package main

import (
	"context"
	"errors"
	"io"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"gohostapi/api"
)

// pluginName is the key under which the control plane dispenses a fan-out
// plugin; the plugin side serves under the same name.
const pluginName = "fanOut"

// handshake is the control plane's handshake. ProtocolVersion is left at 0
// on purpose: the control plane never sets it, so go-plugin announces
// PLUGIN_PROTOCOL_VERSIONS=0 and expects the plugin to answer app version 0.
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "CHAINLOOP_PLUGIN",
	MagicCookieValue: "e575e823-335c-4e3b-8bfd-acceef0ae074",
}

// fanOutGRPCPlugin is the host half of the plugin type: it only knows how to
// build a client over the connection go-plugin negotiated.
type fanOutGRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

var _ plugin.GRPCPlugin = (*fanOutGRPCPlugin)(nil)

func (fanOutGRPCPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("gohost is a host: it serves no plugin")
}

func (fanOutGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return api.NewFanoutServiceClient(conn), nil
}

// autoMTLS is the control plane's setting; only the benchmarks' -no-automtls clears it.
var autoMTLS = true

// newClient builds the go-plugin client with the control plane's settings.
// stderr receives a raw copy of every plugin stderr line (go-plugin writes it
// before it tries to parse the line).
func newClient(path string, logger hclog.Logger, stderr io.Writer) *plugin.Client {
	return plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          map[string]plugin.Plugin{pluginName: &fanOutGRPCPlugin{}},
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         autoMTLS,
		Logger:           logger,
		Stderr:           stderr,
	})
}
