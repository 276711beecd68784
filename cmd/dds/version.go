package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// commit is the source revision of a release build, set with
// -ldflags "-X main.commit=$(git rev-parse HEAD)": the Dockerfile and
// release builds use -buildvcs=false (as .ci/run does), which leaves
// the build info without one.
var commit = ""

// buildInfo says what a binary was built from.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`   // "" when unknown
	Modified bool   `json:"modified"` // built from a work tree with changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo returns the build's description: the -ldflags commit,
// else the revision the go command stamped from the VCS.
func readBuildInfo(version string) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Go = bi.GoVersion
		if b.Commit == "" {
			b.Commit, b.Modified = vcsRevision(bi.Settings)
		}
	}
	return b
}

// revision is the commit, with modified appended when the work tree had
// changes, or unknown when the build recorded none.
func (b buildInfo) revision(unknown, modified string) string {
	switch {
	case b.Commit == "":
		return unknown
	case b.Modified:
		return b.Commit + modified
	}
	return b.Commit
}

// vcsRevision reads vcs.revision and vcs.modified from the build settings.
func vcsRevision(settings []debug.BuildSetting) (rev string, modified bool) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}

type versionOptions struct{ json bool }

func versionCommand(fs *flagSet) runner {
	o := &versionOptions{}
	fs.Bool(&o.json, "json", "print the JSON document instead of text")
	return o.run
}

func (o *versionOptions) run(_ context.Context, a *app, args []string) error {
	if err := wantArgs(args); err != nil {
		return err
	}
	b := readBuildInfo(a.version)
	if o.json {
		return printJSON(a.stdout, b)
	}
	fmt.Fprintln(a.stdout, "dds", b.Version)
	f := newFields(a.stdout)
	f.add("commit", b.revision("unknown (built without VCS information)", " (modified)"))
	f.add("go", b.Go+" "+b.Platform)
	return f.flush()
}
