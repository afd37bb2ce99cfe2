package sqlstore

import (
	"slices"
	"testing"
)

func TestParseSnapshot(t *testing.T) {
	for text, want := range map[string]pgSnapshot{
		"10:20:":         {xmax: 20},
		"10:20:10,15,17": {xmax: 20, xip: []uint64{10, 15, 17}},
	} {
		got, err := parseSnapshot(text)
		if err != nil || got.xmax != want.xmax || !slices.Equal(got.xip, want.xip) {
			t.Errorf("parseSnapshot(%q) = %+v, %v; want %+v", text, got, err, want)
		}
	}
	for _, text := range []string{"", "10:20", "10:20:x", "10::", "10:0:", "10:20:1,,2", "a:b:c:d"} {
		if got, err := parseSnapshot(text); err == nil {
			t.Errorf("parseSnapshot(%q) = %+v, want an error", text, got)
		}
	}
}
