package upstream

import (
	"encoding/json"
	"testing"
)

// FuzzIdentityFromClaims feeds arbitrary JSON claims to the claim decoding:
// it must never panic, must fail exactly when there is no string sub, and
// must keep its promises about what it returns.
func FuzzIdentityFromClaims(f *testing.F) {
	for _, seed := range []string{
		`{"sub":"a","preferred_username":"al","name":"Al","email":"a@x","email_verified":true,"groups":["g1","g2"],"amr":["pwd"],"acr":"1","auth_time":1700000000}`,
		`{"sub":"a","email":"a@x","email_verified":"true","groups":"one","auth_time":1.5}`,
		`{"sub":"a","groups":[1,null,{"a":[]}],"amr":{},"auth_time":1e999}`,
		`{"sub":null}`, `[]`, `null`, `{"sub":"\u0000"}`,
	} {
		f.Add([]byte(seed), "groups")
	}
	f.Fuzz(func(t *testing.T, data []byte, groupsClaim string) {
		s := Settings{GroupsClaim: groupsClaim}
		id, err := identityFromJSON(data, s)
		var obj map[string]json.RawMessage
		var sub string
		hasSub := json.Unmarshal(data, &obj) == nil && obj != nil && json.Unmarshal(obj["sub"], &sub) == nil && sub != ""
		if hasSub != (err == nil) {
			t.Fatalf("claims %q: error %v, but a string sub present is %v", data, err, hasSub)
		}
		if err != nil {
			return
		}
		if id.Subject != sub {
			t.Fatalf("subject %q, want %q", id.Subject, sub)
		}
		if id.EmailVerified && id.Email == "" {
			t.Fatalf("verified without an e-mail: %+v", id)
		}
		for _, g := range id.Groups {
			if g == "" {
				t.Fatalf("empty group in %q", id.Groups)
			}
		}
		if !id.AuthTime.IsZero() && (id.AuthTime.Unix() <= 0 || id.AuthTime.Unix() >= maxEpoch) {
			t.Fatalf("auth_time %v out of range", id.AuthTime)
		}
	})
}
