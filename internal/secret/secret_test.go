package secret

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTokenKeyLeadsWithTheStamp(t *testing.T) {
	now := time.UnixMilli(1_796_000_000_123)
	handle := NewFamilyHandle(now)
	for name, tok := range map[string]string{
		"access token":                       NewToken(AccessTokenPrefix, now),
		"authorization code":                 NewToken(CodePrefix, now),
		"refresh token":                      NewRefreshToken(handle, now),
		"refresh token of an earlier handle": NewRefreshToken(NewHandle(), now),
	} {
		want := fmt.Sprintf("%012x", now.UnixMilli()) + Hash(tok)
		if got := TokenKey(tok); got != want {
			t.Errorf("%s %q: key %q, want %q", name, tok, got, want)
		}
	}
	if got, want := Lineage(handle), fmt.Sprintf("%012x", now.UnixMilli())+Hash("lineage:"+handle); got != want {
		t.Errorf("lineage of a stamped handle = %q, want %q", got, want)
	}
}

// The keys of tokens issued later sort after those of earlier ones: what
// keeps an index of them appending at its end.
func TestTokenKeysSortByIssue(t *testing.T) {
	start := time.UnixMilli(1_700_000_000_000)
	prev := ""
	for i := range 2000 {
		now := start.Add(time.Duration(i*i) * time.Millisecond * 997)
		for _, key := range []string{TokenKey(NewToken(AccessTokenPrefix, now)), Lineage(NewFamilyHandle(now))} {
			if key[:12] <= prev {
				t.Fatalf("key %q of %v does not sort after the stamp %q before it", key, now, prev)
			}
		}
		prev = TokenKey(NewToken(CodePrefix, now))[:12]
	}
}

// Tokens of the earlier, unstamped format keep the key (and lineage) they
// were stored under: a bare Hash. So does anything else.
func TestTokenKeyOfOtherShapesIsTheHash(t *testing.T) {
	oldHandle := NewHandle()
	for name, tok := range map[string]string{
		"earlier access token":                      New(AccessTokenPrefix),
		"earlier code":                              New(CodePrefix),
		"earlier refresh token with a handle":       RefreshTokenPrefix + oldHandle + "." + New(""),
		"earlier refresh token without a handle":    New(RefreshTokenPrefix),
		"JWT":                                       "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVy",
		"device code":                               NewToken(DeviceCodePrefix, time.Now()),
		"stamp that is not base64url":               AccessTokenPrefix + "!!!!!!!!" + New(""),
		"stamped body one character short":          NewToken(AccessTokenPrefix, time.Now())[:54],
		"refresh token with a handle of odd length": RefreshTokenPrefix + oldHandle + "x." + NewToken("", time.Now()),
		"empty": "",
	} {
		if got := TokenKey(tok); got != Hash(tok) {
			t.Errorf("%s %q: key %q, want the bare hash", name, tok, got)
		}
	}
	if got := Lineage(oldHandle); got != Hash("lineage:"+oldHandle) {
		t.Errorf("lineage of an earlier handle changed: %q", got)
	}
	if h, ok := RefreshHandle(RefreshTokenPrefix + oldHandle + "." + New("")); !ok || h != oldHandle {
		t.Errorf("handle of an earlier refresh token: %q %v", h, ok)
	}
}

func TestNewTokenShape(t *testing.T) {
	now := time.Now()
	tok := NewToken(AccessTokenPrefix, now)
	if len(tok) != len(AccessTokenPrefix)+bodyLen || strings.Trim(tok[4:], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("access token %q: want lka_ and %d base64url characters", tok, bodyLen)
	}
	if NewToken(AccessTokenPrefix, now)[4+stampLen:] == tok[4+stampLen:] {
		t.Error("two tokens of one millisecond share their random part")
	}
	ref := NewRefreshToken(NewFamilyHandle(now), now)
	h, ok := RefreshHandle(ref)
	if !ok || len(h) != stampedHandleLen || !strings.HasPrefix(ref, RefreshTokenPrefix+h+".") {
		t.Errorf("refresh token %q: handle %q %v", ref, h, ok)
	}
}

// FuzzTokenKey: any string presented as a token gets a key, without a
// panic, that holds the hash of every byte of it, bare or after 12 hex
// digits: no two strings share a key.
func FuzzTokenKey(f *testing.F) {
	now := time.UnixMilli(1_796_000_000_000)
	for _, s := range []string{"", "lka_", NewToken(AccessTokenPrefix, now), NewRefreshToken(NewFamilyHandle(now), now),
		NewRefreshToken(NewHandle(), now), New(RefreshTokenPrefix), "lkr_.", "lkr_" + strings.Repeat(".", 90)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key := TokenKey(s)
		switch {
		case key == Hash(s):
		case len(key) == 76 && key[12:] == Hash(s) && strings.Trim(key[:12], "0123456789abcdef") == "":
		default:
			t.Fatalf("TokenKey(%q) = %q", s, key)
		}
		if h, ok := RefreshHandle(s); ok {
			if l := Lineage(h); l != Hash("lineage:"+h) && (len(l) != 76 || l[12:] != Hash("lineage:"+h)) {
				t.Fatalf("Lineage(%q) = %q", h, l)
			}
		}
	})
}
