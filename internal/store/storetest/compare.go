package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// diff describes how got differs from want, one line per field, or returns
// "" if they are the same. Times compare with Equal (the store may return
// another location), and a nil slice equals an empty one.
func diff(got, want any) string {
	var b strings.Builder
	diffValue(&b, "", reflect.ValueOf(got), reflect.ValueOf(want))
	return b.String()
}

func diffValue(b *strings.Builder, path string, g, w reflect.Value) {
	if g.Type() != w.Type() {
		fmt.Fprintf(b, "%s: type %s, want %s\n", path, g.Type(), w.Type())
		return
	}
	switch {
	case g.Type() == timeType:
		if gt, wt := g.Interface().(time.Time), w.Interface().(time.Time); !gt.Equal(wt) {
			fmt.Fprintf(b, "%s: %v, want %v\n", path, gt, wt)
		}
	case g.Kind() == reflect.Struct:
		for i := range g.NumField() {
			diffValue(b, path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
		}
	case g.Kind() == reflect.Slice && g.Type().Elem().Kind() != reflect.Uint8:
		if g.Len() != w.Len() {
			fmt.Fprintf(b, "%s: %d items %v, want %d items %v\n", path, g.Len(), g, w.Len(), w)
			return
		}
		for i := range g.Len() {
			diffValue(b, fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			fmt.Fprintf(b, "%s: %#v, want %#v\n", path, g.Interface(), w.Interface())
		}
	}
}
