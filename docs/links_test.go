// Package docs holds barkeep's documentation; its test checks that the
// Markdown files of the repository link only to files that exist in it.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var link = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)

// TestLinksStayInTheRepository: every relative link in a .md file names a
// file or directory of the repository, and no text points outside it.
func TestLinksStayInTheRepository(t *testing.T) {
	root, _ := filepath.Abs("..")
	checked := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "results") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		for _, bad := range []string{"../shared/", "shared/MCMP.md", "shared/DESIGN.md", "/work/"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s refers to %q, outside the repository", rel, bad)
			}
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs := filepath.Join(filepath.Dir(path), target)
			if !strings.HasPrefix(abs, root) {
				t.Errorf("%s links outside the repository: %s", rel, target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
			checked++
		}
		return nil
	})
	if checked < 20 {
		t.Errorf("only %d links checked; is the walk rooted at the repository?", checked)
	}
}
