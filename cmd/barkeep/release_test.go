package main

import (
	"regexp"
	"testing"
)

func TestMCMPRelease(t *testing.T) {
	// The pattern the reference's tests and tools scrape the release with.
	scrape := regexp.MustCompile(`^barkeep/(\d+)\.(\d+)\.(\d+)\.(Dev|Alpha\d+|Beta\d+|CR\d+|Final)$`)
	for _, tt := range []struct{ version, want string }{
		{"dev", "barkeep/" + devRelease + ".Dev"},
		{"", "barkeep/" + devRelease + ".Dev"},
		{"v1.2.3", "barkeep/1.2.3.Final"},
		{"0.3.0", "barkeep/0.3.0.Final"},
		{"v1.2.3-rc.2", "barkeep/1.2.3.CR2"},
		{"v1.2.3-beta.1", "barkeep/1.2.3.Beta1"},
		{"v1.2.3-alpha.10", "barkeep/1.2.3.Alpha10"},
		{"v1.2.4-0.20261129030405-abcdef123456", "barkeep/1.2.4.Dev"},
		{"v1.2.3-rc", "barkeep/1.2.3.Dev"},
		{"v1.2", "barkeep/" + devRelease + ".Dev"},
		{"v1.2.3+dirty", "barkeep/1.2.3.Dev"},
		{"v0.0.0-20261129030405-abcdef123456+dirty", "barkeep/" + devRelease + ".Dev"},
	} {
		got := mcmpRelease(tt.version)
		if got != tt.want || !scrape.MatchString(got) {
			t.Errorf("mcmpRelease(%q) = %q, want %q (scrapable)", tt.version, got, tt.want)
		}
	}
}
