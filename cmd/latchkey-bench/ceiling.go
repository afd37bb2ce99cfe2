package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ceilingBody is what the ceiling answers: a small JSON body, about the
// size of the smallest Latchkey answers.
const ceilingBody = `{"ok":true}` + "\n"

// runCeiling is the hidden subcommand `ceiling -listen ADDR`: a trivial
// net/http handler, served until the process is killed. It prints the
// address it listens on as its first line of output.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		_, _ = io.WriteString(w, ceilingBody)
	})}
	return srv.Serve(ln)
}

// ceilingProcess is the ceiling running in its own process.
type ceilingProcess struct {
	cmd  *exec.Cmd
	base string
}

// startCeiling re-executes this program as `ceiling -listen 127.0.0.1:0`
// and reads the address it listens on.
func startCeiling() (*ceilingProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, "ceiling", "-listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the ceiling: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the ceiling did not say its address: %w", err)
	}
	return &ceilingProcess{cmd: cmd, base: "http://" + strings.TrimSpace(line)}, nil
}

// stop ends the ceiling process.
func (c *ceilingProcess) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}
