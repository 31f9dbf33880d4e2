package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

type pushTarget struct {
	base, path         string
	username, password string
}

// challenge is the registry's answer to an unauthenticated GET /v2/: its
// scheme and, for Bearer, the token realm and service.
type challenge struct {
	scheme, realm, service string
}

func (s *server) challengeOf(ctx context.Context, t pushTarget) (*challenge, error) {
	s.mu.Lock()
	known := s.challenge
	s.mu.Unlock()
	if known != nil {
		return known, nil
	}
	res, err := s.client.Do(newRequest(ctx, http.MethodGet, t.base+"/v2/", "", nil, ""))
	if err != nil {
		return nil, fmt.Errorf("goref: GET /v2/: %w", err)
	}
	drain(res)
	c := &challenge{}
	if res.StatusCode == http.StatusUnauthorized {
		c = parseChallenge(res.Header.Get("Www-Authenticate"))
	}
	s.mu.Lock()
	s.challenge = c
	s.mu.Unlock()
	return c, nil
}

// parseChallenge reads `Bearer realm="…",service="…"` or `Basic realm="…"`;
// quoted values hold no commas on the registries this runs against.
func parseChallenge(header string) *challenge {
	c := &challenge{}
	scheme, params, _ := strings.Cut(header, " ")
	c.scheme = strings.ToLower(scheme)
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		v = strings.Trim(v, `"`)
		switch strings.ToLower(k) {
		case "realm":
			c.realm = v
		case "service":
			c.service = v
		}
	}
	return c
}

// authorization is the header for one repository: a fresh token per
// repository for Bearer (each attestation has its own), as the floor does.
func (s *server) authorization(ctx context.Context, t pushTarget, repo string) (string, error) {
	c, err := s.challengeOf(ctx, t)
	if err != nil {
		return "", err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(t.username+":"+t.password))
	switch c.scheme {
	case "basic":
		return basic, nil
	case "bearer":
	default:
		return "", nil
	}
	u, err := url.Parse(c.realm)
	if err != nil {
		return "", fmt.Errorf("goref: token realm: %w", err)
	}
	q := u.Query()
	if c.service != "" {
		q.Set("service", c.service)
	}
	q.Set("scope", "repository:"+repo+":pull,push")
	u.RawQuery = q.Encode()
	res, err := s.do(newRequest(ctx, http.MethodGet, u.String(), basic, nil, ""), http.StatusOK, "token GET")
	if err != nil {
		return "", err
	}
	defer drain(res)
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("goref: token answer: %w", err)
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	return "Bearer " + body.Token, nil
}

// push stores the envelope as bench/artifact.ts shapes it: config blob and
// envelope layer uploaded side by side (POST, then PUT ?digest=), then the
// manifest under `latest` in `<path>/goref-<sha256 hex>`.
func (s *server) push(ctx context.Context, t pushTarget, envelope []byte) error {
	hexDigest := sha256Hex(envelope)
	layerDigest := "sha256:" + hexDigest
	config, _ := json.Marshal(map[string]interface{}{
		"architecture": "unknown", "os": "unknown", "config": struct{}{},
		"rootfs": map[string]interface{}{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest := "sha256:" + sha256Hex(config)
	manifest, _ := json.Marshal(map[string]interface{}{
		"schemaVersion": 2,
		"mediaType":     manifestMediaType,
		"config":        map[string]interface{}{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []interface{}{map[string]interface{}{"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": layerDigest, "size": len(envelope)}},
	})
	repo := t.path + "/goref-" + hexDigest
	auth, err := s.authorization(ctx, t, repo)
	if err != nil {
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- s.blob(ctx, t, repo, auth, config, configDigest) }()
	go func() { errs <- s.blob(ctx, t, repo, auth, envelope, layerDigest) }()
	for i := 0; i < 2; i++ {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	res, err := s.do(newRequest(ctx, http.MethodPut, t.base+"/v2/"+repo+"/manifests/latest", auth, manifest, manifestMediaType), http.StatusCreated, "manifest PUT")
	if err != nil {
		return err
	}
	drain(res)
	return nil
}

func (s *server) blob(ctx context.Context, t pushTarget, repo, auth string, body []byte, digest string) error {
	res, err := s.do(newRequest(ctx, http.MethodPost, t.base+"/v2/"+repo+"/blobs/uploads/", auth, nil, ""), http.StatusAccepted, "upload POST")
	if err != nil {
		return err
	}
	drain(res)
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("goref: upload location: %w", err)
	}
	base, _ := url.Parse(t.base)
	loc = base.ResolveReference(loc)
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	res, err = s.do(newRequest(ctx, http.MethodPut, loc.String(), auth, body, "application/octet-stream"), http.StatusCreated, "blob PUT")
	if err != nil {
		return err
	}
	drain(res)
	return nil
}
