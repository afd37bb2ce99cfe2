package config

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseSizeReadsGitsSuffixes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "64k": 64 << 10, "3M": 3 << 20, "2g": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-1", "1t", "1.5g", "99999999999g", " 1"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestGitSettingsTakeFlagsEnvironmentAndDefaults(t *testing.T) {
	t.Setenv("LATCHKEY_GIT_MAX_PUSH_SIZE", "1m")
	t.Setenv("LATCHKEY_GIT_IDLE_TIMEOUT", "20s")
	var c Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--git-max-processes-per-caller=3"}); err != nil {
		t.Fatal(err)
	}
	want := Git{IdleTimeout: 20 * time.Second, MaxDuration: DefaultGitMaxDuration, MaxProcesses: DefaultGitMaxProcesses,
		MaxProcessesPerCaller: 3, MaxPushSize: 1 << 20}
	if c.Git != want {
		t.Fatalf("Git = %+v, want %+v", c.Git, want)
	}
	if err := fs.Parse([]string{"--git-max-push-size=0"}); err != nil || c.Git.MaxPushSize != 0 {
		t.Fatalf("--git-max-push-size=0: %d, %v", c.Git.MaxPushSize, err)
	}
	if err := fs.Parse([]string{"--git-max-push-size=lots"}); err == nil {
		t.Fatal("--git-max-push-size=lots accepted")
	}
	if err := (Git{IdleTimeout: time.Second, MaxDuration: time.Hour, MaxProcesses: 1, MaxProcessesPerCaller: -1}).validate(); err == nil {
		t.Fatal("a negative per-caller bound validated")
	}
	if err := (Git{MaxPushSize: -1}).validate(); err == nil {
		t.Fatal("a negative push size validated")
	}
}
