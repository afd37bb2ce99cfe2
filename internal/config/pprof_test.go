package config

import "testing"

// TestPprofListenIsLoopbackOnly: the profiling listener may only be bound
// to a loopback address; anything else is refused at start-up.
func TestPprofListenIsLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, "127.0.0.1:6060": true, "[::1]:6060": true, "localhost:0": true,
		"0.0.0.0:6060": false, ":6060": false, "10.0.0.1:6060": false, "example.com:6060": false, "127.0.0.1": false,
	} {
		c := Config{BaseURL: "http://localhost:8080", AccessTokenTTL: 1, RefreshTokenTTL: 1, CodeTTL: 1, SessionTTL: 1, PprofListen: addr}
		if _, err := c.ValidateServe(); (err == nil) != ok {
			t.Errorf("--pprof-listen %q: error %v, want accepted=%v", addr, err, ok)
		}
	}
}
