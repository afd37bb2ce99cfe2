package gitserve

import (
	"net/http/httptest"
	"testing"

	"latchkey/internal/oauth"
	"latchkey/internal/store"
)

func TestProcessesAreBoundedPerCallerAndInTotalAndGivenBack(t *testing.T) {
	p := newProcesses(3, 2)
	a1, ok1 := p.acquire("a")
	_, ok2 := p.acquire("a")
	if _, ok := p.acquire("a"); !ok1 || !ok2 || ok {
		t.Fatalf("caller a got %v %v, then a third place: %v; want two places only", ok1, ok2, ok)
	}
	b1, ok := p.acquire("b")
	if !ok {
		t.Fatal("caller b within its bound was refused")
	}
	if _, ok := p.acquire("c"); ok {
		t.Fatal("a fourth place beyond the total of 3")
	}
	a1()
	a1() // giving back twice gives back once
	if _, ok := p.acquire("c"); !ok {
		t.Fatal("a place given back is not free again")
	}
	if _, ok := p.acquire("d"); ok {
		t.Fatal("releasing twice freed two places")
	}
	b1()
	if len(p.byCaller) != 2 || p.total != 2 {
		t.Fatalf("after b left: total %d, callers %v", p.total, p.byCaller)
	}
}

func TestCallerKeyIsTheUserOrTheClientAddress(t *testing.T) {
	req := func(remote string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		return callerKey(&oauth.Caller{}, r)
	}
	user := callerKey(&oauth.Caller{User: store.User{ID: 7}}, httptest.NewRequest("GET", "/", nil))
	for _, c := range []struct{ a, b string }{
		{req("192.0.2.1:1000"), req("192.0.2.1:2000")},
		{req("[2001:db8:1:2::1]:1000"), req("[2001:db8:1:2:ffff::9]:2000")},
		{req("[::ffff:192.0.2.1]:1000"), req("192.0.2.1:3")},
		{user, "user 7"},
	} {
		if c.a != c.b {
			t.Errorf("%q and %q should count as one caller", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{
		{req("192.0.2.1:1000"), req("192.0.2.2:1000")},
		{req("[2001:db8:1:2::1]:1"), req("[2001:db8:1:3::1]:1")},
	} {
		if c.a == c.b {
			t.Errorf("%q counts for two callers", c.a)
		}
	}
}
