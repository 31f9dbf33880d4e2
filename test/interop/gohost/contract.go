package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"strings"
	"time"

	"github.com/golang/protobuf/ptypes/timestamp"

	"gohostapi/api"
)

const draft202012 = "https://json-schema.org/draft/2020-12/schema"

// runContract makes the calls the control plane makes when it loads a plugin
// and when a user registers/attaches it (the validation half).
func runContract(fan api.FanoutServiceClient, r *recorder) {
	c, cancel := ctx()
	defer cancel()

	r.calls++
	d, err := fan.Describe(c, &api.DescribeRequest{})
	if err != nil {
		r.rpcErr("Describe", err)
	} else {
		r.check("Describe id == \"oci-registry\"", d.GetId() == "oci-registry", "id is %q", d.GetId())
		r.check("Describe description non-empty", strings.TrimSpace(d.GetDescription()) != "", "empty description")
		checkSchema(r, "Describe registration_json_schema", d.GetRegistrationJsonSchema())
		checkSchema(r, "Describe attachment_json_schema", d.GetAttachmentJsonSchema())
		fmt.Printf("  info  Describe: version=%q subscribed_materials=%v\n", d.GetVersion(), d.GetSubscribedMaterials())
	}

	r.calls++
	s, err := fan.String(c, &api.StringRequest{})
	if err != nil {
		r.rpcErr("String", err)
	} else {
		r.check("String non-empty", strings.TrimSpace(s.GetValue()) != "", "empty value")
	}

	r.calls++
	sub, err := fan.IsSubscribedTo(c, &api.IsSubscribedToRequest{MaterialType: "SBOM_CYCLONEDX_JSON"})
	if err != nil {
		r.rpcErr("IsSubscribedTo(SBOM_CYCLONEDX_JSON)", err)
	} else {
		r.check("IsSubscribedTo(SBOM_CYCLONEDX_JSON) == false", !sub.GetSubscribed(), "answered true")
	}

	validReg := `{"repository":"127.0.0.1:5000/x","username":"u","password":"p"}`
	v := validateRegistration(fan, r, validReg)
	expectValid(r, "ValidateRegistration "+validReg, v)

	v = validateRegistration(fan, r, `{"foo":1}`)
	expectInvalid(r, `ValidateRegistration {"foo":1}`, v, "repository", "foo")

	for _, p := range []string{`{}`, `{"prefix":"custom"}`} {
		expectValid(r, "ValidateAttachment "+p, validateAttachment(fan, r, p))
	}
	expectInvalid(r, `ValidateAttachment {"prefix":""}`, validateAttachment(fan, r, `{"prefix":""}`))
}

func validateRegistration(fan api.FanoutServiceClient, r *recorder, payload string) validation {
	c, cancel := ctx()
	defer cancel()
	r.calls++
	resp, err := fan.ValidateRegistration(c, &api.ValidateRegistrationRequest{JsonPayload: []byte(payload)})
	return toValidation(resp.GetValid(), resp.GetError(), err)
}

func validateAttachment(fan api.FanoutServiceClient, r *recorder, payload string) validation {
	c, cancel := ctx()
	defer cancel()
	r.calls++
	resp, err := fan.ValidateAttachment(c, &api.ValidateAttachmentRequest{JsonPayload: []byte(payload)})
	return toValidation(resp.GetValid(), resp.GetError(), err)
}

func expectValid(r *recorder, name string, v validation) {
	switch {
	case v.err != nil:
		r.rpcErr(name+" → valid", v.err)
	case !v.valid:
		r.fail(name+" → valid", "rejected via %s: %q", v.how, v.text)
	default:
		r.ok(name+" → valid", "")
	}
}

func expectInvalid(r *recorder, name string, v validation, mustMention ...string) {
	name += " → invalid"
	switch {
	case v.err != nil:
		r.rpcErr(name, v.err)
		return
	case v.valid:
		r.fail(name, "accepted (valid=true)")
		return
	case strings.TrimSpace(v.text) == "":
		r.fail(name, "rejected via %s but with an empty error text", v.how)
		return
	}
	for _, m := range mustMention {
		if !strings.Contains(v.text, m) {
			r.fail(name, "error text does not mention %q: %q", m, v.text)
			return
		}
	}
	r.ok(name, "via %s: %s", v.how, clip(v.text, 160))
}

func checkSchema(r *recorder, name string, b []byte) {
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		r.fail(name+" is JSON draft 2020-12", "not a JSON object: %v (%q)", err, clip(string(b), 120))
		return
	}
	s, _ := m["$schema"].(string)
	r.check(name+" is JSON draft 2020-12", strings.TrimSuffix(s, "#") == draft202012, "$schema is %q", s)
}

// runRegistry drives a registration, an attachment and one delivery the way
// the control plane does, passing Register/Attach answers back on Execute.
func runRegistry(fan api.FanoutServiceClient, r *recorder, registry, envelopePath, username, password, expectRegisterError string) {
	env, err := ioutil.ReadFile(envelopePath)
	if err != nil {
		r.fail("read envelope", "%v", err)
		return
	}
	sum := sha256.Sum256(env)
	digest := hex.EncodeToString(sum[:])
	repository := registry + "/gohost"

	regPayload, _ := json.Marshal(map[string]string{"repository": repository, "username": username, "password": password})
	// Registry-mode calls do network I/O: give them a longer deadline.
	c, cancel := context.WithTimeout(context.Background(), 3*rpcTimeout)
	defer cancel()
	r.calls++
	reg, err := fan.Register(c, &api.RegisterRequest{Payload: regPayload})
	if expectRegisterError != "" {
		expectFailure(r, "Register", err, strings.Split(expectRegisterError, ","), password)
		return
	}
	if err != nil {
		r.rpcErr("Register", err)
		return
	}
	var regCfg map[string]interface{}
	if err := json.Unmarshal(reg.GetConfiguration(), &regCfg); err != nil {
		r.fail("Register configuration is a JSON object", "%v (%q)", err, clip(string(reg.GetConfiguration()), 160))
	} else {
		repo, _ := regCfg["repository"].(string)
		r.check("Register configuration has \"repository\"", repo != "", "configuration: %s", reg.GetConfiguration())
		_, hasPw := regCfg["password"]
		leaks := hasPw || strings.Contains(string(reg.GetConfiguration()), password)
		r.check("Register configuration carries no password", !leaks, "configuration: %s", reg.GetConfiguration())
	}
	cr := reg.GetCredentials()
	fmt.Printf("  info  Register: configuration=%s credentials{url=%q username=%q password set=%v}\n",
		reg.GetConfiguration(), cr.GetUrl(), cr.GetUsername(), cr.GetPassword() != "")

	r.calls++
	att, err := fan.Attach(c, &api.AttachRequest{Payload: []byte(`{}`), RegistrationInfo: reg})
	if err != nil {
		r.rpcErr("Attach {}", err)
		return
	}
	var attCfg map[string]interface{}
	err = json.Unmarshal(att.GetConfiguration(), &attCfg)
	r.check(`Attach {} → configuration {"prefix":"chainloop"}`,
		err == nil && len(attCfg) == 1 && attCfg["prefix"] == "chainloop",
		"configuration: %q", att.GetConfiguration())

	now := time.Now()
	req := &api.ExecuteRequest{
		RegistrationInfo: reg,
		AttachmentInfo:   att,
		Envelope:         env,
		Metadata: &api.ExecuteRequest_Metadata{
			Workflow: &api.ExecuteRequest_Metadata_Workflow{
				Id: "2b1bd4b4-0000-4000-8000-000000000001", Name: "gohost-wf", Team: "interop", Project: "gohost",
			},
			WorkflowRun: &api.ExecuteRequest_Metadata_WorkflowRun{
				Id: "2b1bd4b4-0000-4000-8000-000000000002", State: "success", RunnerType: "GITHUB_ACTION",
				RunUrl:            "https://example.invalid/run/1",
				StartedAt:         &timestamp.Timestamp{Seconds: now.Add(-time.Minute).Unix()},
				FinishedAt:        &timestamp.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())},
				AttestationDigest: "sha256:" + digest,
			},
		},
	}
	r.calls++
	if _, err := fan.Execute(c, req); err != nil {
		r.rpcErr("Execute", err)
		return
	}
	r.ok("Execute", "pushed %d-byte envelope; expect %s/chainloop-%s:latest", len(env), repository, digest)
}

// expectFailure checks that a call failed with a message naming every part
// (e.g. the registry and the reason), and that the message carries no secret.
func expectFailure(r *recorder, name string, err error, parts []string, secret string) {
	if err == nil {
		r.fail(name+" fails", "it succeeded")
		return
	}
	msg := err.Error()
	fmt.Printf("  info  %s failed as expected: %s\n", name, msg)
	var missing []string
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			missing = append(missing, p)
		}
	}
	r.check(name+" fails naming "+strings.Join(parts, ", "), len(missing) == 0, "message %q lacks %q", msg, missing)
	r.check(name+" error carries no password", !strings.Contains(msg, secret), "message %q", msg)
}
