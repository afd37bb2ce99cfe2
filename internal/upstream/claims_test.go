package upstream

import (
	"fmt"
	"testing"
	"time"
)

func TestIdentityFromClaims(t *testing.T) {
	s := Settings{GroupsClaim: "groups"}
	cases := []struct {
		claims string
		want   Identity
	}{
		{`{"sub":"a","preferred_username":"al","name":"Al","email":"a@x","email_verified":true,"groups":["g1",2,"g2",""],"amr":["pwd","hwk"],"acr":"1","auth_time":1700000000}`,
			Identity{Subject: "a", Username: "al", Name: "Al", Email: "a@x", EmailVerified: true, Groups: []string{"g1", "g2"},
				AMR: []string{"pwd", "hwk"}, ACR: "1", AuthTime: time.Unix(1700000000, 0).UTC()}},
		{`{"sub":"a","email":"a@x","email_verified":"true","groups":"one"}`,
			Identity{Subject: "a", Email: "a@x", EmailVerified: true, Groups: []string{"one"}}},
		{`{"sub":"a","email":"a@x","email_verified":"false"}`, Identity{Subject: "a", Email: "a@x"}},
		{`{"sub":"a","email":"a@x","email_verified":"yes"}`, Identity{Subject: "a", Email: "a@x"}},
		{`{"sub":"a","email_verified":true}`, Identity{Subject: "a"}},
		{`{"sub":"a","name":42,"preferred_username":null,"groups":{"x":1},"amr":"pwd","acr":5,"auth_time":"1700000000"}`,
			Identity{Subject: "a", AMR: []string{"pwd"}}},
		{`{"sub":"a","auth_time":1700000000.5}`, Identity{Subject: "a", AuthTime: time.Unix(1700000000, 5e8).UTC()}},
		{`{"sub":"a","auth_time":1e300}`, Identity{Subject: "a"}},
		{`{"sub":"a","auth_time":-5}`, Identity{Subject: "a"}},
	}
	for _, c := range cases {
		got, err := identityFromJSON([]byte(c.claims), s)
		if err != nil {
			t.Errorf("%s: %v", c.claims, err)
			continue
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
			t.Errorf("%s\n got %+v\nwant %+v", c.claims, got, c.want)
		}
	}
	for _, bad := range []string{`{}`, `{"sub":""}`, `{"sub":7}`, `null`, `[]`, `"x"`, `{`} {
		if _, err := identityFromJSON([]byte(bad), s); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	// No groups claim configured: no groups, whatever the token says.
	if id, _ := identityFromJSON([]byte(`{"sub":"a","groups":["g"]}`), Settings{}); id.Groups != nil {
		t.Errorf("groups %q without GroupsClaim", id.Groups)
	}
	// The username claim is configurable; no fallback to the e-mail.
	if id, _ := identityFromJSON([]byte(`{"sub":"a","email":"a@x","upn":"AL"}`), Settings{UsernameClaim: "upn"}); id.Username != "AL" {
		t.Errorf("username %q from upn", id.Username)
	}
	if id, _ := identityFromJSON([]byte(`{"sub":"a","email":"a@x"}`), Settings{}); id.Username != "" {
		t.Errorf("username %q: want empty, no fallback", id.Username)
	}
}

func TestFillKeepsIDTokenClaims(t *testing.T) {
	idt, _ := parseClaims([]byte(`{"sub":"a","amr":["otp"],"name":"From ID token"}`))
	info, _ := parseClaims([]byte(`{"sub":"a","amr":["pwd"],"name":"From userinfo","email":"a@x"}`))
	idt.fill(info)
	id, err := identityFrom(idt, Settings{}.WithDefaults())
	if err != nil || id.Name != "From ID token" || fmt.Sprint(id.AMR) != "[otp]" || id.Email != "a@x" {
		t.Errorf("merged %+v %v: want the ID token's name and amr, userinfo's e-mail", id, err)
	}
}
