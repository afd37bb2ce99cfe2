package store

import (
	"context"
	"iter"
)

// Page asks a list method for one page of its list.
type Page struct {
	// After is where the page starts: the zero Cursor for the first page,
	// else the cursor that the previous page of the same list returned.
	After Cursor
	// Limit is the most items the page holds. Below 1 it means
	// DefaultLimit, above MaxLimit it means MaxLimit.
	Limit int
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Size returns how many items p asks for, after the bounds of Limit.
func (p Page) Size() int {
	switch {
	case p.Limit < 1:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// Cursor is a position in one list, just after one of its items. Backends
// encode the list's ordering key in it; to callers it is opaque, and it
// means something only to the list (with the same arguments) that returned
// it: a cursor that no list made is an error. The zero Cursor is the start
// of a list.
type Cursor string

// List is a list method with its arguments other than the page bound: it
// returns the items of page p and the cursor of the next page, the zero
// Cursor after the last page. Bind binds one argument.
type List[T any] func(ctx context.Context, p Page) ([]T, Cursor, error)

// Bind binds the first argument of a list method such as ListRepos.
func Bind[A, T any](list func(context.Context, A, Page) ([]T, Cursor, error), a A) List[T] {
	return func(ctx context.Context, p Page) ([]T, Cursor, error) { return list(ctx, a, p) }
}

// Walk returns the items of a list in its order, fetching pages as the
// loop needs more items: first a page of first items, then pages twice as
// large as the one before, up to MaxLimit. A short read thus costs one
// small query and a long one few queries. It stops fetching as soon as the
// loop stops; a failed fetch ends the sequence with its error.
func Walk[T any](ctx context.Context, list List[T], first int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		p := Page{Limit: first}
		for {
			items, next, err := list(ctx, p)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			p = Page{After: next, Limit: min(p.Size()*2, MaxLimit)}
		}
	}
}

// All returns every item of a list, fetched MaxLimit at a time. It is for
// lists that a caller needs whole (a command's output, the choices of a
// form); a response that shows part of a list reads it with Walk and Cut.
func All[T any](ctx context.Context, list List[T]) ([]T, error) {
	var out []T
	for it, err := range Walk(ctx, list, MaxLimit) {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Window is the part of a sequence that one response shows.
type Window[T any] struct {
	Items []T  // never nil
	Start int  // the position of the first item (or, past the end, the length of the sequence)
	More  bool // whether an item follows the window
}

// Cut skips the first skip items of seq, collects up to take items after
// them and learns whether another item follows. It reads seq no further
// than that item, so a window near the start of a long list costs only
// the pages it spans. It is the one loop by which a caller that filters a
// list (visibility) fills a page: seq fetches batches by cursor until the
// window is full.
func Cut[T any](seq iter.Seq2[T, error], skip, take int) (Window[T], error) {
	w := Window[T]{Items: []T{}}
	for it, err := range seq {
		switch {
		case err != nil:
			return Window[T]{}, err
		case w.Start < skip:
			w.Start++
		case len(w.Items) < take:
			w.Items = append(w.Items, it)
		default:
			w.More = true
			return w, nil
		}
	}
	return w, nil
}
