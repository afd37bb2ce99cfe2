package api

import (
	"fmt"
	"iter"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"latchkey/internal/store"
	"latchkey/internal/visible"
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

// paginateSeq cuts one Bitbucket page from items by the start and limit
// query parameters (limit 25 by default, at most 1000). It reads items no
// further than the one after the page, which tells whether the page is
// the last.
func paginateSeq[T any](r *http.Request, items iter.Seq2[T, error]) (page[T], error) {
	start, err := queryInt(r, "start", 0)
	if err != nil {
		return page[T]{}, err
	}
	limit, err := queryInt(r, "limit", 25)
	if err != nil {
		return page[T]{}, err
	}
	limit = min(max(limit, 1), 1000)
	w, err := store.Cut(items, start, limit)
	if err != nil {
		return page[T]{}, err
	}
	p := page[T]{Values: w.Items, Start: w.Start, Limit: limit, Size: len(w.Items), IsLastPage: !w.More}
	if w.More {
		end := w.Start + len(w.Items)
		p.NextPageStart = &end
	}
	return p, nil
}

// paged answers 200 with one Bitbucket page of items.
func paged[T any](r *http.Request, items []T) (int, any, error) {
	return pagedSeq(r, seqOf(items))
}

// pagedSeq answers 200 with one Bitbucket page of items.
func pagedSeq[T any](r *http.Request, items iter.Seq2[T, error]) (int, any, error) {
	p, err := paginateSeq(r, items)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil
}

// convertPage converts the values of a page, once it is cut: f may be
// costly (a query per value).
func convertPage[T, U any](p page[T], f func(T) (U, error)) (page[U], error) {
	out := page[U]{Size: p.Size, Limit: p.Limit, IsLastPage: p.IsLastPage, Start: p.Start,
		NextPageStart: p.NextPageStart, Values: make([]U, 0, len(p.Values))}
	for _, v := range p.Values {
		u, err := f(v)
		if err != nil {
			return page[U]{}, err
		}
		out.Values = append(out.Values, u)
	}
	return out, nil
}

// seqOf is a list held in memory as a sequence that never fails.
func seqOf[T any](items []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}

// filterSeq keeps the items of seq for which keep holds; errors pass.
func filterSeq[T any](seq iter.Seq2[T, error], keep func(T) bool) iter.Seq2[T, error] {
	return visible.Filter(seq, keep)
}

// mapSeq converts the items of seq with f, which must be cheap: items
// that a page skips are converted too. Errors pass.
func mapSeq[T, U any](seq iter.Seq2[T, error], f func(T) U) iter.Seq2[U, error] {
	return func(yield func(U, error) bool) {
		for it, err := range seq {
			var u U
			if err == nil {
				u = f(it)
			}
			if !yield(u, err) {
				return
			}
		}
	}
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

// giteaPageSize is the page size a limit asks for, as Gitea reads it: 0
// (what Gitea's SDK sends when its caller sets none) is the default, and
// no page is larger than the maximum.
func giteaPageSize(limit int) int {
	if limit <= 0 {
		return giteaDefaultLimit
	}
	return min(limit, giteaMaxLimit)
}

// giteaPage reads Gitea's page (from 1) and limit (giteaPageSize) query
// parameters.
func giteaPage(r *http.Request) (pageNo, limit int, err error) {
	if pageNo, err = queryInt(r, "page", 1); err != nil {
		return 0, 0, err
	}
	if limit, err = queryInt(r, "limit", giteaDefaultLimit); err != nil {
		return 0, 0, err
	}
	return max(pageNo, 1), giteaPageSize(limit), nil
}

// giteaPagedSeq answers 200 with one Gitea page of items. The total count
// that Gitea sends needs the whole list: it reads every item, but keeps
// only the page's.
func giteaPagedSeq[T any](r *http.Request, items iter.Seq2[T, error]) (int, any, error) {
	pageNo, limit, err := giteaPage(r)
	if err != nil {
		return 0, nil, err
	}
	start := math.MaxInt // past any list, without overflow for absurd page numbers
	if pageNo-1 <= math.MaxInt/limit {
		start = (pageNo - 1) * limit
	}
	out, total := []T{}, 0
	for it, err := range items {
		if err != nil {
			return 0, nil, err
		}
		if total >= start && len(out) < limit {
			out = append(out, it)
		}
		total++
	}
	h := http.Header{}
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("Access-Control-Expose-Headers", "X-Total-Count, Link")
	if link := giteaLinks(r.URL, pageNo, limit, total); link != "" {
		h.Set("Link", link)
	}
	return http.StatusOK, withHeaders{header: h, body: out}, nil
}

// giteaPageLink is one link of a Link header: page n of the request's
// list, with its relation.
func giteaPageLink(u *url.URL, n, limit int, rel string) string {
	q := u.Query()
	q.Set("page", strconv.Itoa(n))
	q.Set("limit", strconv.Itoa(limit))
	return fmt.Sprintf(`<%s?%s>; rel="%s"`, u.Path, q.Encode(), rel)
}

// giteaLinks is the Link header (RFC 8288) with next, last, first and
// prev pages, as Gitea sends it.
func giteaLinks(u *url.URL, pageNo, limit, total int) string {
	last := max((total+limit-1)/limit, 1)
	link := func(n int, rel string) string { return giteaPageLink(u, n, limit, rel) }
	var links []string
	if pageNo < last {
		links = append(links, link(pageNo+1, "next"), link(last, "last"))
	}
	if pageNo > 1 {
		links = append(links, link(1, "first"), link(pageNo-1, "prev"))
	}
	return strings.Join(links, ", ")
}
