// Package tomcatajp runs the tomcat-ajp example's start.sh as its README
// does and checks sticky sessions over AJP with a secret.
package tomcatajp

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/exampletest"
)

var answer = regexp.MustCompile(`^route=(tc[12]) visit=(\d+) `)

func TestTomcatAJPExample(t *testing.T) {
	missing := ""
	if _, err := os.Stat("/usr/share/tomcat10/bin/catalina.sh"); err != nil {
		missing = "Debian's tomcat10"
	} else if _, err := exec.LookPath("javac"); err != nil {
		missing = "a JDK (javac)"
	}
	if missing != "" {
		if os.Getenv("BARKEEP_TOMCAT") != "" || os.Getenv("BARKEEP_EXAMPLES") != "" {
			t.Fatalf("the example needs %s", missing)
		}
		t.Skipf("the example needs %s; set BARKEEP_TOMCAT=1 to make this a failure", missing)
	}
	barkeep := exampletest.Build(t, "../../cmd/barkeep")
	dir := t.TempDir()
	port, admin := exampletest.FreePort(t), exampletest.FreePort(t)
	env := []string{"BARKEEP=" + barkeep, "RUN_DIR=" + filepath.Join(dir, "run"), "PORT=" + port, "ADMIN_PORT=" + admin,
		"AJP1_PORT=" + exampletest.FreePort(t), "AJP2_PORT=" + exampletest.FreePort(t)}
	start := exec.Command("bash", "start.sh")
	start.Env = append(os.Environ(), env...)
	var out exampletest.Proc
	start.Stdout, start.Stderr = &out, &out
	start.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so the whole group can be ended
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-start.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { start.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-start.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			for _, n := range []string{"tc1", "tc2"} {
				b, _ := os.ReadFile(filepath.Join(dir, "run", n, "logs", "console.log"))
				t.Logf("%s console:\n%s", n, b)
			}
			t.Logf("start.sh:\n%s", out.Output())
		}
	}()
	front := "http://127.0.0.1:" + port + "/"

	// Both Tomcats up (JVM start and deployment take seconds): new
	// sessions reach both.
	seen := map[string]int{}
	exampletest.Eventually(t, 120*time.Second, func() error {
		code, body, err := exampletest.Get(&http.Client{Timeout: 5 * time.Second}, front)
		if m := answer.FindStringSubmatch(body); err == nil && code == 200 && m != nil {
			seen[m[1]]++
		}
		if seen["tc1"] == 0 || seen["tc2"] == 0 {
			return fmt.Errorf("new sessions so far: %v (last: %d %q %v)", seen, code, body, err)
		}
		return nil
	})

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	first := ""
	for want := 1; want <= 5; want++ {
		code, body, err := exampletest.Get(c, front)
		m := answer.FindStringSubmatch(body)
		if err != nil || code != 200 || m == nil {
			t.Fatalf("visit %d: %d %q %v", want, code, body, err)
		}
		if first == "" {
			first = m[1]
		}
		if m[1] != first || m[2] != fmt.Sprint(want) {
			t.Fatalf("visit %d with a cookie jar: %s visit %s, want %s visit %d", want, m[1], m[2], first, want)
		}
	}
}
