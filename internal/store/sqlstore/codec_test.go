package sqlstore

import (
	"slices"
	"testing"
	"time"
)

func TestMillisRoundTrip(t *testing.T) {
	if got := millis(time.Time{}); got != 0 {
		t.Errorf("millis(zero) = %d, want 0", got)
	}
	if got := fromMillis(0); !got.IsZero() {
		t.Errorf("fromMillis(0) = %v, want the zero time", got)
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("X", 3600))
	got := fromMillis(millis(at))
	if want := at.Truncate(time.Millisecond); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("round trip of %v = %v, want %v in UTC", at, got, want)
	}
}

func TestListsRoundTrip(t *testing.T) {
	words := []string{"REPO_READ", "openid", "read:user"}
	if got := splitList(joinList(words)); !slices.Equal(got, words) {
		t.Errorf("split(join(%q)) = %q", words, got)
	}
	if got := splitList(joinList(nil)); got != nil {
		t.Errorf("split(join(nil)) = %q, want nil", got)
	}
	uris := []string{"https://a.example/cb?x=\"a b\"", "com.example.app:/ü", ""}
	got, err := fromJSONList(jsonList(uris))
	if err != nil || !slices.Equal(got, uris) {
		t.Errorf("fromJSONList(jsonList(%q)) = %q, %v", uris, got, err)
	}
	if got, err := fromJSONList(jsonList(nil)); err != nil || got != nil {
		t.Errorf("fromJSONList(jsonList(nil)) = %q, %v; want nil", got, err)
	}
}
