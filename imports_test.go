package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestImportDirection checks the direction of imports the layout promises: the API and
// the worker are ends, wired together only by this command. Tests may reach further
// (the end-to-end tests serve the API in their own process), so only the packages'
// own imports count.
func TestImportDirection(t *testing.T) {
	imports := packageImports(t)
	if len(imports) < 10 {
		t.Fatalf("go list found %d packages, want every package of the module", len(imports))
	}
	for _, end := range []string{"jardinier/api", "jardinier/worker"} {
		t.Run("nothing but the command imports "+end, func(t *testing.T) {
			if _, ok := imports[end]; !ok {
				t.Fatalf("%s not listed by go list", end)
			}
			for pkg, deps := range imports {
				if pkg == "jardinier" {
					continue
				}
				for _, dep := range deps {
					if dep == end {
						t.Errorf("%s imports %s", pkg, end)
					}
				}
			}
		})
	}

	t.Run("the command imports the API and the worker", func(t *testing.T) {
		deps := strings.Join(imports["jardinier"], " ")
		for _, want := range []string{"jardinier/api", "jardinier/worker"} {
			if !strings.Contains(" "+deps+" ", " "+want+" ") {
				t.Errorf("jardinier does not import %s: go list reads the wrong module?", want)
			}
		}
	})
}

// packageImports returns every package of the module with its own imports (tests
// left out), as go list sees them.
func packageImports(t *testing.T) map[string][]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	imports := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			imports[fields[0]] = fields[1:]
		}
	}
	return imports
}
