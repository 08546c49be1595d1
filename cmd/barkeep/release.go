package main

import (
	"regexp"
	"strings"
)

// devRelease is the release the development tree is heading for; builds
// without a release version report it with the qualifier Dev.
const devRelease = "0.3.0"

// semverRE is a Go module version: vX.Y.Z with an optional pre-release.
var semverRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(\+[0-9A-Za-z.-]+)?$`)

// mcmpRelease is the release MCMP's VERSION and the mod_cluster_manager
// page give: "barkeep/<x.y.z>.<Q>", the form tools scrape with
// (\d+)\.(\d+)\.(\d+)\.(Dev|Alpha\d+|Beta\d+|CR\d+|Final). version is
// buildVersion's: "v1.2.3" is 1.2.3.Final; "v1.2.3-rc.2", "-beta.1" and
// "-alpha.1" are 1.2.3.CR2, .Beta1 and .Alpha1; another pre-release such
// as a pseudo-version ("v1.2.4-0.20261129...") and a build from a
// modified tree ("+dirty") are 1.2.4.Dev; a pseudo-version of an untagged
// tree (v0.0.0-...) and anything else, "dev" included, are devRelease.Dev.
func mcmpRelease(version string) string {
	m := semverRE.FindStringSubmatch(version)
	if m == nil || m[1] == "0.0.0" && m[2] != "" {
		return "barkeep/" + devRelease + ".Dev"
	}
	q := "Dev"
	switch name, n, _ := strings.Cut(m[2], "."); {
	case m[3] != "":
	case m[2] == "":
		q = "Final"
	case n != "" && strings.Trim(n, "0123456789") == "" && name == "alpha":
		q = "Alpha" + n
	case n != "" && strings.Trim(n, "0123456789") == "" && name == "beta":
		q = "Beta" + n
	case n != "" && strings.Trim(n, "0123456789") == "" && name == "rc":
		q = "CR" + n
	}
	return "barkeep/" + m[1] + "." + q
}
