package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// --- test keys and token minting -------------------------------------------------

type signer struct {
	kid string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

var (
	keysOnce               sync.Once
	rsaA, rsaB, ecA, ecBad signer
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		mk := func(bits int) *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			return k
		}
		mkEC := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		rsaA = signer{kid: "rsa-a", rsa: mk(2048)}
		rsaB = signer{kid: "rsa-b", rsa: mk(2048)}
		ecA = signer{kid: "ec-a", ec: mkEC()}
		ecBad = signer{kid: "ec-a", ec: mkEC()} // same kid, different key
	})
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s signer) alg() string {
	if s.rsa != nil {
		return "RS256"
	}
	return "ES256"
}

// mint signs claims; header entries override or add to {"alg", "kid"}.
func (s signer) mint(claims map[string]any, header map[string]any) string {
	h := map[string]any{"alg": s.alg(), "typ": "JWT"}
	if s.kid != "" {
		h["kid"] = s.kid
	}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	input := enc(hb) + "." + enc(cb)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if s.rsa != nil {
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, digest[:]); err != nil {
			panic(err)
		}
	} else {
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, digest[:])
		if err != nil {
			panic(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	}
	return input + "." + enc(sig)
}

func (s signer) jwk() map[string]any {
	if s.rsa != nil {
		pub := s.rsa.PublicKey
		e := []byte{byte(pub.E >> 16), byte(pub.E >> 8), byte(pub.E)}
		return map[string]any{"kty": "RSA", "kid": s.kid, "alg": "RS256", "use": "sig",
			"n": enc(pub.N.Bytes()), "e": enc(e)}
	}
	pt, err := s.ec.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "kid": s.kid, "crv": "P-256", "x": enc(pt[1:33]), "y": enc(pt[33:])}
}

func jwksJSON(keys ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

const testNow = int64(1_800_000_000)

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"iss": "https://auth.example.com", "aud": "api.example.com", "sub": "alice",
		"exp": testNow + 600, "scope": "read write"}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func testConfig(t *testing.T, js string) *config {
	t.Helper()
	c, err := parseConfig([]byte(js))
	if err != nil {
		t.Fatalf("parseConfig(%s): %v", js, err)
	}
	return c
}

func mustKeys(t *testing.T, data []byte) *keySet {
	t.Helper()
	ks, _, err := parseJWKS(data)
	if err != nil {
		t.Fatalf("parseJWKS: %v", err)
	}
	return ks
}

const baseConfig = `{"issuer": "https://auth.example.com", "audience": "api.example.com"}`

// --- verification ------------------------------------------------------------------

func TestVerifyAcceptsRS256AndES256(t *testing.T) {
	testKeys(t)
	cfg := testConfig(t, baseConfig)
	ks := mustKeys(t, jwksJSON(rsaA.jwk(), ecA.jwk()))
	for _, s := range []signer{rsaA, ecA} {
		id, err := verifyToken(s.mint(claims(nil), nil), ks, cfg, testNow)
		if err != nil {
			t.Fatalf("%s: %v", s.alg(), err)
		}
		if id.subject != "alice" || strings.Join(id.scopes, " ") != "read write" {
			t.Fatalf("%s: identity %+v", s.alg(), id)
		}
	}
}

func TestVerifyWithoutKidTriesEveryMatchingKey(t *testing.T) {
	testKeys(t)
	cfg := testConfig(t, baseConfig)
	ks := mustKeys(t, jwksJSON(rsaB.jwk(), rsaA.jwk()))
	tok := rsaA.mint(claims(nil), map[string]any{"kid": nil})
	if _, err := verifyToken(tok, ks, cfg, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejects(t *testing.T) {
	testKeys(t)
	cfg := testConfig(t, baseConfig)
	ks := mustKeys(t, jwksJSON(rsaA.jwk(), ecA.jwk()))
	good := rsaA.mint(claims(nil), nil)
	parts := strings.Split(good, ".")
	forgedPayload, _ := json.Marshal(claims(map[string]any{"sub": "mallory"}))

	cases := []struct {
		name, token, want string
	}{
		{"tampered payload", parts[0] + "." + enc(forgedPayload) + "." + parts[2], "signature verification failed"},
		{"wrong EC key same kid", ecBad.mint(claims(nil), nil), "signature verification failed"},
		{"RSA key posing as EC kid", rsaB.mint(claims(nil), map[string]any{"kid": "ec-a"}), "no RS256 key in the JWKS for this token"},
		{"unknown kid", rsaB.mint(claims(nil), nil), errUnknownKid.Error()},
		{"alg none", parts[0][:0] + enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".x", `unsupported alg "none"`},
		{"alg HS256", rsaA.mint(claims(nil), map[string]any{"alg": "HS256"}), `unsupported alg "HS256"`},
		{"crit header", rsaA.mint(claims(nil), map[string]any{"crit": []string{"exp"}}), "unsupported critical header"},
		{"two parts", parts[0] + "." + parts[1], "malformed token"},
		{"garbage header", "!!!." + parts[1] + "." + parts[2], "malformed token header"},
		{"issuer mismatch", rsaA.mint(claims(map[string]any{"iss": "https://evil.example.com"}), nil), "issuer mismatch"},
		{"audience mismatch", rsaA.mint(claims(map[string]any{"aud": "other"}), nil), "audience mismatch"},
		{"audience missing", rsaA.mint(claims(map[string]any{"aud": nil}), nil), "audience mismatch"},
		{"expired", rsaA.mint(claims(map[string]any{"exp": testNow - 61}), nil), "token expired"},
		{"exp missing", rsaA.mint(claims(map[string]any{"exp": nil}), nil), "missing or invalid exp claim"},
		{"exp string", rsaA.mint(claims(map[string]any{"exp": "soon"}), nil), "missing or invalid exp claim"},
		{"not yet valid", rsaA.mint(claims(map[string]any{"nbf": testNow + 61}), nil), "token not yet valid"},
	}
	for _, tc := range cases {
		_, err := verifyToken(tc.token, ks, cfg, testNow)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		var te *tokenError
		if err != nil && !errors.As(err, &te) {
			t.Errorf("%s: error %T is not a tokenError", tc.name, err)
		}
	}
}

func TestVerifyClaimEdges(t *testing.T) {
	testKeys(t)
	ks := mustKeys(t, jwksJSON(rsaA.jwk()))
	cfg := testConfig(t, `{"issuer": "https://auth.example.com", "audience": ["a", "api.example.com"], "clock_skew_seconds": 0}`)
	ok := func(c map[string]any) error {
		_, err := verifyToken(rsaA.mint(c, nil), ks, cfg, testNow)
		return err
	}
	if err := ok(claims(map[string]any{"aud": []string{"x", "api.example.com"}})); err != nil {
		t.Errorf("aud list containing a configured audience: %v", err)
	}
	if err := ok(claims(map[string]any{"exp": testNow})); err != nil {
		t.Errorf("exp == now with no skew is still valid: %v", err)
	}
	if err := ok(claims(map[string]any{"exp": testNow - 1})); err == nil {
		t.Error("exp one second ago with no skew must fail")
	}
	if err := ok(claims(map[string]any{"nbf": testNow, "exp": float64(testNow) + 0.5})); err != nil {
		t.Errorf("fractional exp and nbf == now: %v", err)
	}
	// Default skew (60 s) lets a token expired 59 s ago pass.
	def := testConfig(t, baseConfig)
	if _, err := verifyToken(rsaA.mint(claims(map[string]any{"exp": testNow - 59}), nil), ks, def, testNow); err != nil {
		t.Errorf("within default skew: %v", err)
	}
	// No audience configured: aud is not checked.
	noAud := testConfig(t, `{"issuer": "https://auth.example.com"}`)
	if _, err := verifyToken(rsaA.mint(claims(map[string]any{"aud": "anything"}), nil), ks, noAud, testNow); err != nil {
		t.Errorf("no audience configured: %v", err)
	}
}

func TestScopes(t *testing.T) {
	cases := []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"scope": "a b  c"}, "a b c"},
		{map[string]any{"scp": []any{"x", "y"}}, "x y"},
		{map[string]any{"scp": "p q"}, "p q"},
		{map[string]any{"scope": "s", "scp": []any{"ignored"}}, "s"},
		{map[string]any{}, ""},
	}
	for _, tc := range cases {
		if got := strings.Join(scopesOf(tc.claims), " "); got != tc.want {
			t.Errorf("scopesOf(%v) = %q, want %q", tc.claims, got, tc.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	if tok, err := bearerToken("Bearer abc.def.ghi"); err != nil || tok != "abc.def.ghi" {
		t.Errorf("Bearer: %q %v", tok, err)
	}
	if tok, err := bearerToken("bearer   xyz "); err != nil || tok != "xyz" {
		t.Errorf("lower-case scheme: %q %v", tok, err)
	}
	if _, err := bearerToken(""); err != errNoToken {
		t.Errorf("empty: %v", err)
	}
	if _, err := bearerToken("Basic dXNlcjpwdw=="); err == nil {
		t.Error("Basic must be rejected")
	}
	if _, err := bearerToken("Bearer "); err == nil {
		t.Error("empty token must be rejected")
	}
}

// --- JWKS -----------------------------------------------------------------------------

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK := signer{kid: "small", rsa: small}.jwk()
	enc := rsaB.jwk()
	enc["use"] = "enc"
	p384 := map[string]any{"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}
	offCurve := ecA.jwk()
	offCurve["kid"] = "off"
	offCurve["y"] = offCurve["x"]
	data := jwksJSON(rsaA.jwk(), map[string]any{"kty": "oct", "k": "c2VjcmV0"}, smallJWK, enc, p384, offCurve, ecA.jwk())
	ks, skipped, err := parseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range ks.keys {
		kids = append(kids, k.kid)
	}
	if strings.Join(kids, ",") != "rsa-a,ec-a" {
		t.Errorf("kept keys %v", kids)
	}
	joined := strings.Join(skipped, "\n")
	for _, want := range []string{`kty "oct"`, "1024 bits", `use "enc"`, `curve "P-384"`, "not on P-256"} {
		if !strings.Contains(joined, want) {
			t.Errorf("skipped notes lack %q:\n%s", want, joined)
		}
	}
}

func TestParseJWKSErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`not json`:                   "not valid JSON",
		`{"nokeys": []}`:             `no "keys" list`,
		`{"keys": []}`:               "no usable",
		`{"keys": [{"kty": "oct"}]}`: "no usable",
		`{"keys": "x"}`:              "not valid JSON",
	} {
		_, _, err := parseJWKS([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseJWKS(%s) = %v, want %q", doc, err, want)
		}
	}
}
