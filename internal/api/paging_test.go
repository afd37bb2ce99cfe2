package api

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

func TestPaginateCutsByStartAndLimit(t *testing.T) {
	items := []int{0, 1, 2, 3, 4}
	for _, c := range []struct {
		query     string
		want      []int
		last      bool
		nextStart int
	}{
		{"", items, true, 0},
		{"limit=2", []int{0, 1}, false, 2},
		{"start=2&limit=2", []int{2, 3}, false, 4},
		{"start=4&limit=2", []int{4}, true, 0},
		{"start=9", []int{}, true, 0},
		{"limit=0", []int{0}, false, 1},
	} {
		p, err := paginateSeq(httptest.NewRequest("GET", "/x?"+c.query, nil), seqOf(items))
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		if !slices.Equal(p.Values, c.want) || p.IsLastPage != c.last || p.Size != len(c.want) {
			t.Errorf("%q: page %+v, want values %v, last %v", c.query, p, c.want, c.last)
		}
		if !c.last && (p.NextPageStart == nil || *p.NextPageStart != c.nextStart) {
			t.Errorf("%q: nextPageStart %v, want %d", c.query, p.NextPageStart, c.nextStart)
		}
	}
	if _, err := paginateSeq(httptest.NewRequest("GET", "/x?start=-1", nil), seqOf(items)); err == nil {
		t.Error("a negative start was accepted")
	}
}

func TestGiteaLinksNameNeighbouringPages(t *testing.T) {
	u, _ := url.Parse("/api/v1/user/repos?page=2&limit=10")
	got := giteaLinks(u, 2, 10, 35)
	want := `</api/v1/user/repos?limit=10&page=3>; rel="next", </api/v1/user/repos?limit=10&page=4>; rel="last", ` +
		`</api/v1/user/repos?limit=10&page=1>; rel="first", </api/v1/user/repos?limit=10&page=1>; rel="prev"`
	if got != want {
		t.Errorf("Link\n got %s\nwant %s", got, want)
	}
	if got := giteaLinks(u, 1, 10, 5); got != "" {
		t.Errorf("one page has links %q", got)
	}
}
