package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is Bitbucket's paged response.
type page[T any] struct {
	Size          int  `json:"size"`
	Limit         int  `json:"limit"`
	IsLastPage    bool `json:"isLastPage"`
	Values        []T  `json:"values"`
	Start         int  `json:"start"`
	NextPageStart *int `json:"nextPageStart,omitempty"`
}

// paginate cuts items by the start and limit query parameters
// (limit 25 by default, at most 1000).
func paginate[T any](r *http.Request, items []T) (page[T], error) {
	start, err := queryInt(r, "start", 0)
	if err != nil {
		return page[T]{}, err
	}
	limit, err := queryInt(r, "limit", 25)
	if err != nil {
		return page[T]{}, err
	}
	limit = min(max(limit, 1), 1000)
	start = min(start, len(items))
	end := min(start+limit, len(items))
	p := page[T]{Values: items[start:end], Start: start, Limit: limit, Size: end - start, IsLastPage: end == len(items)}
	if p.Values == nil {
		p.Values = []T{}
	}
	if !p.IsLastPage {
		p.NextPageStart = &end
	}
	return p, nil
}

// paged answers 200 with one Bitbucket page of items.
func paged[T any](r *http.Request, items []T) (int, any, error) {
	p, err := paginate(r, items)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil
}

func queryInt(r *http.Request, name string, def int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, badRequest(name + " must be a non-negative integer")
	}
	return n, nil
}

// Gitea's paging: page (from 1) and limit (default 30, at most 50) query
// parameters, a bare JSON array, the total in X-Total-Count and the
// neighbouring pages in a Link header.
const (
	giteaDefaultLimit = 30
	giteaMaxLimit     = 50
)

// giteaPaged answers 200 with one Gitea page of items.
func giteaPaged[T any](r *http.Request, items []T) (int, any, error) {
	pageNo, err := queryInt(r, "page", 1)
	if err != nil {
		return 0, nil, err
	}
	limit, err := queryInt(r, "limit", giteaDefaultLimit)
	if err != nil {
		return 0, nil, err
	}
	pageNo, limit = max(pageNo, 1), min(max(limit, 1), giteaMaxLimit)
	start := len(items)
	if pageNo-1 < len(items)/limit+1 { // no overflow for absurd page numbers
		start = min((pageNo-1)*limit, len(items))
	}
	end := min(start+limit, len(items))
	out := append([]T{}, items[start:end]...)
	h := http.Header{}
	h.Set("X-Total-Count", strconv.Itoa(len(items)))
	h.Set("Access-Control-Expose-Headers", "X-Total-Count, Link")
	if link := giteaLinks(r.URL, pageNo, limit, len(items)); link != "" {
		h.Set("Link", link)
	}
	return http.StatusOK, withHeaders{header: h, body: out}, nil
}

// giteaLinks is the Link header (RFC 8288) with next, last, first and
// prev pages, as Gitea sends it.
func giteaLinks(u *url.URL, pageNo, limit, total int) string {
	last := max((total+limit-1)/limit, 1)
	link := func(n int, rel string) string {
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("limit", strconv.Itoa(limit))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, u.Path, q.Encode(), rel)
	}
	var links []string
	if pageNo < last {
		links = append(links, link(pageNo+1, "next"), link(last, "last"))
	}
	if pageNo > 1 {
		links = append(links, link(1, "first"), link(pageNo-1, "prev"))
	}
	return strings.Join(links, ", ")
}
