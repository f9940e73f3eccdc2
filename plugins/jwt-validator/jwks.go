package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// jwk is one verification key from a JWKS document (RFC 7517).
type jwk struct {
	kid string
	alg string // "" when the JWKS does not restrict the key
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

func (k *jwk) supports(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256":
		return k.rsa != nil
	case "ES256":
		return k.ec != nil
	}
	return false
}

type keySet struct {
	keys []jwk
}

const minRSABits = 2048

type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS keeps the RS256/ES256 signature keys of a JWKS document. Keys it
// cannot use are skipped with a note (returned for logging); a document with no
// usable key at all is an error.
func parseJWKS(data []byte) (*keySet, []string, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("JWKS is not valid JSON: %v", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`JWKS has no "keys" list`)
	}
	ks := &keySet{}
	var skipped []string
	for i, raw := range doc.Keys {
		var r rawJWK
		if err := json.Unmarshal(raw, &r); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: not a JSON object", i))
			continue
		}
		k, err := r.toKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, r.Kid, err))
			continue
		}
		ks.keys = append(ks.keys, k)
	}
	if len(ks.keys) == 0 {
		return nil, skipped, errors.New("JWKS has no usable RS256 or ES256 key")
	}
	return ks, skipped, nil
}

func (r *rawJWK) toKey() (jwk, error) {
	if r.Use != "" && r.Use != "sig" {
		return jwk{}, fmt.Errorf("use %q is not \"sig\"", r.Use)
	}
	k := jwk{kid: r.Kid, alg: r.Alg}
	switch r.Kty {
	case "RSA":
		if r.Alg != "" && r.Alg != "RS256" {
			return jwk{}, fmt.Errorf("alg %q is not supported", r.Alg)
		}
		n, err := b64(r.N)
		if err != nil || len(n) == 0 {
			return jwk{}, errors.New(`bad RSA modulus "n"`)
		}
		e, err := b64(r.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return jwk{}, errors.New(`bad RSA exponent "e"`)
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 {
			return jwk{}, errors.New(`bad RSA exponent "e"`)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		if pub.N.BitLen() < minRSABits {
			return jwk{}, fmt.Errorf("RSA key has %d bits, at least %d are required", pub.N.BitLen(), minRSABits)
		}
		k.rsa = pub
	case "EC":
		if r.Alg != "" && r.Alg != "ES256" {
			return jwk{}, fmt.Errorf("alg %q is not supported", r.Alg)
		}
		if r.Crv != "P-256" {
			return jwk{}, fmt.Errorf("curve %q is not supported (only P-256)", r.Crv)
		}
		x, errX := b64(r.X)
		y, errY := b64(r.Y)
		if errX != nil || errY != nil || len(x) == 0 || len(y) == 0 || len(x) > 32 || len(y) > 32 {
			return jwk{}, errors.New(`bad EC coordinates "x"/"y"`)
		}
		point := make([]byte, 65)
		point[0] = 4
		copy(point[1+32-len(x):33], x)
		copy(point[33+32-len(y):], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return jwk{}, errors.New("EC point is not on P-256")
		}
		k.ec = pub
	default:
		return jwk{}, fmt.Errorf("kty %q is not supported", r.Kty)
	}
	return k, nil
}

// b64 decodes base64url, with or without padding (RFC 7515 §2 says without).
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
