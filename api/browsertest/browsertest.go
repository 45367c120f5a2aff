// Package browsertest drives a real headless Chromium (Debian's chromium package) for the
// browser tests of the pages: a person's visit, step by step, then for each page a
// screenshot at a desktop and a phone width, for a reviewer to look at, and axe-core's
// accessibility check.
//
// A test starts one Browser, opens a Tab per visitor and runs chromedp actions in it:
//
//	b := browsertest.Start(t)
//	tab := b.NewTab(t)
//	tab.Run(t, chromedp.Navigate(url), chromedp.SendKeys(`#organization_name`, "Les Amis"))
//	tab.Check(t, "demande-erreurs") // screenshots at 1280 and 320 px, axe-core, CSP
//
// Screenshots go to .screenshots/ at the root of the module (SCREENSHOT_DIR overrides
// it); the folder is ignored by git. axe-core comes from npm (package.json beside this
// file; `make test` installs it). Without chromium or axe-core the tests are skipped
// with a message saying how to install them, except under CI=true, where they fail.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The widths every page is checked at: a laptop, and the narrowest phone in use.
const (
	Desktop = 1280
	Phone   = 320
)

// actionTimeout bounds one Run or Check: a page of this service renders in milliseconds,
// so a step that takes longer is stuck.
const actionTimeout = 30 * time.Second

// seriousImpacts are the axe-core impacts a page may not have.
var seriousImpacts = map[string]bool{"serious": true, "critical": true}

// Browser is one headless Chromium, closed at the end of the test that started it.
type Browser struct {
	alloc  context.Context
	root   string // the module's root directory
	axeJS  string
	shots  string // where screenshots go
	closed chan struct{}
}

// Start launches Chromium for the test. It skips the test in -short mode, and when
// Chromium or axe-core is missing (outside CI).
func Start(tb testing.TB) *Browser {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real Chromium: not run in -short mode")
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	bin, err := chromiumPath()
	if err != nil {
		unavailable(tb, err.Error()+": apt-get install chromium")
	}
	axePath := filepath.Join(root, "api", "browsertest", "node_modules", "axe-core", "axe.min.js")
	axeJS, err := os.ReadFile(axePath)
	if err != nil {
		unavailable(tb, fmt.Sprintf("axe-core missing (%v): npm ci --prefix api/browsertest", err))
	}
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(root, ".screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		tb.Fatal(err)
	}
	// Not tb.TempDir: Chromium's helper processes may still write their profile for a
	// moment after the browser is gone, which would fail the test at its cleanup.
	profile, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		tb.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root on the CI machine
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(Desktop, 900),
		// A busy machine (the race detector, other packages' tests) may take Chromium
		// past the default 20 s to start.
		chromedp.WSURLReadTimeout(2 * time.Minute),
		// The machine reaches no network but loopback: without these, Chromium keeps
		// trying to reach its own services.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{alloc: alloc, root: root, axeJS: string(axeJS), shots: shots, closed: make(chan struct{})}
	tb.Cleanup(func() {
		cancel()
		close(b.closed)
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		tb.Logf("browser profile %s left behind", profile)
	})
	return b
}

// unavailable skips the test, or fails it under CI, where everything must be installed.
func unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("browser tests: %s (CI must install it: see .ci/run)", why)
	}
	tb.Skipf("browser tests skipped: %s", why)
}

func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Tab is one visitor's browser tab. It records what the page's console and security
// checks complain about (a Content-Security-Policy violation, a script error), which
// Check reports.
type Tab struct {
	b   *Browser
	ctx context.Context

	mu       sync.Mutex
	problems []string
	status   int // HTTP status of the last document loaded
}

// NewTab opens a tab, closed at the end of the test.
func (b *Browser) NewTab(tb testing.TB) *Tab {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc)
	tb.Cleanup(cancel)
	tab := &Tab{b: b, ctx: ctx}
	chromedp.ListenTarget(ctx, tab.listen)
	if err := chromedp.Run(ctx, network.Enable(), log.Enable(), runtime.Enable(),
		chromedp.EmulateViewport(Desktop, 900)); err != nil {
		tb.Fatalf("open a browser tab: %v", err)
	}
	return tab
}

func (tab *Tab) listen(ev any) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			tab.status = int(ev.Response.Status)
		}
	case *log.EventEntryAdded:
		// Chromium reports CSP violations and blocked resources here.
		if ev.Entry.Level == log.LevelError && ev.Entry.Source != log.SourceNetwork {
			tab.problems = append(tab.problems, fmt.Sprintf("console (%s): %s", ev.Entry.Source, ev.Entry.Text))
		}
	case *runtime.EventExceptionThrown:
		tab.problems = append(tab.problems, "script error: "+ev.ExceptionDetails.Error())
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.APITypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			tab.problems = append(tab.problems, "console.error: "+strings.Join(parts, " "))
		}
	}
}

// Context is the tab's chromedp context, for actions Run does not cover.
func (tab *Tab) Context() context.Context { return tab.ctx }

// Run runs chromedp actions in the tab, failing the test on the first error.
func (tab *Tab) Run(tb testing.TB, actions ...chromedp.Action) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		tb.Fatalf("browser: %v", err)
	}
}

// Open loads url in the tab and waits until its body is there.
func (tab *Tab) Open(tb testing.TB, url string) {
	tb.Helper()
	tab.Run(tb, chromedp.Navigate(url), chromedp.WaitReady("body", chromedp.ByQuery))
}

// Leave runs actions that take the tab to another page (a form sent, a link followed)
// and returns once that page's body is there: a wait for an element afterwards could
// otherwise be met by the page being left, on a machine slow to navigate.
func (tab *Tab) Leave(tb testing.TB, actions ...chromedp.Action) {
	tb.Helper()
	const mark = `window.leftBehind`
	tab.Run(tb, chromedp.Evaluate(mark+` = true`, nil))
	tab.Run(tb, actions...)
	for deadline := time.Now().Add(actionTimeout); ; {
		var staying bool
		// Between two pages the evaluation may fail: the old document is gone.
		if err := chromedp.Run(tab.ctx, chromedp.Evaluate(mark+` === true`, &staying)); err == nil && !staying {
			break
		} else if time.Now().After(deadline) {
			tb.Fatalf("browser: the page was not left within %s", actionTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tab.Run(tb, chromedp.WaitReady("body", chromedp.ByQuery))
}

// Status is the HTTP status of the last page the tab loaded.
func (tab *Tab) Status() int {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return tab.status
}

// URL is the address of the page in the tab.
func (tab *Tab) URL(tb testing.TB) string {
	tb.Helper()
	var u string
	tab.Run(tb, chromedp.Location(&u))
	return u
}

// Text is the visible text of the first element matching a CSS selector.
func (tab *Tab) Text(tb testing.TB, selector string) string {
	tb.Helper()
	var s string
	tab.Run(tb, chromedp.Text(selector, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

// TextNow is the visible text of the first element matching a CSS selector, read in
// one step inside the page, so that a script replacing the element meanwhile (a
// progress refreshed in place) cannot break the read; "" when nothing matches now.
func (tab *Tab) TextNow(tb testing.TB, selector string) string {
	tb.Helper()
	quoted, err := json.Marshal(selector)
	if err != nil {
		tb.Fatal(err)
	}
	var s string
	tab.Run(tb, chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, quoted), &s))
	return s
}

// Count is the number of elements matching a CSS selector, now.
func (tab *Tab) Count(tb testing.TB, selector string) int {
	tb.Helper()
	var nodes []*cdp.Node
	tab.Run(tb, chromedp.Nodes(selector, &nodes, chromedp.ByQueryAll, chromedp.AtLeast(0)))
	return len(nodes)
}

// Violation is one rule of axe-core a page breaks.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

func (v Violation) String() string {
	var targets []string
	for _, n := range v.Nodes {
		targets = append(targets, fmt.Sprint(n.Target...))
	}
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(targets, ", "))
}

// Axe runs axe-core on the page as it is (WCAG 2.1 A and AA rules, and best practices)
// and returns its violations, whatever their impact.
func (tab *Tab) Axe(tb testing.TB) []Violation {
	tb.Helper()
	var loaded bool
	// Evaluated through the DevTools protocol, so the page's own CSP does not apply.
	tab.Run(tb, chromedp.Evaluate(tab.b.axeJS+";typeof axe === 'object'", &loaded))
	if !loaded {
		tb.Fatal("axe-core did not load into the page")
	}
	var raw json.RawMessage
	run := `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
		.then(r => JSON.stringify(r.violations))`
	var out string
	tab.Run(tb, chromedp.Evaluate(run, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	raw = json.RawMessage(out)
	var vs []Violation
	if err := json.Unmarshal(raw, &vs); err != nil {
		tb.Fatalf("axe-core result: %v", err)
	}
	return vs
}

var unsafeName = regexp.MustCompile(`[^a-z0-9._-]+`)

// Screenshot writes a full-page screenshot <name>-<width>.png of the page as it is, at
// the desktop width, with none of Check's checks: for a page that is not the service's
// own (the Temporal UI), whose accessibility is not ours to answer for.
func (tab *Tab) Screenshot(tb testing.TB, name string) {
	tb.Helper()
	tab.Run(tb, chromedp.EmulateViewport(Desktop, 900))
	tab.shot(tb, name, Desktop)
}

// shot writes a full-page screenshot of the page as it is, <name>-<width>.png, and
// returns its file.
func (tab *Tab) shot(tb testing.TB, name string, width int) string {
	tb.Helper()
	var png []byte
	tab.Run(tb, chromedp.FullScreenshot(&png, 100)) // 100: PNG, lossless
	file := filepath.Join(tab.b.shots, fmt.Sprintf("%s-%d.png", unsafeName.ReplaceAllString(strings.ToLower(name), "-"), width))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.Errorf("screenshot %s: %v", file, err)
	}
	return file
}

// Check looks at the page as a reviewer would, at each width (Desktop and Phone when
// none is given): a full-page screenshot <name>-<width>.png, axe-core's serious and
// critical violations, a page wider than the screen, and anything the page's console
// reported since the tab opened (a CSP violation, a script error). Each is a test
// error. The tab is back at the desktop width afterwards.
func (tab *Tab) Check(tb testing.TB, name string, widths ...int) {
	tb.Helper()
	if len(widths) == 0 {
		widths = []int{Desktop, Phone}
	}
	for _, w := range widths {
		var overflow int
		tab.Run(tb,
			chromedp.EmulateViewport(int64(w), 900),
			chromedp.WaitReady("body", chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow),
		)
		file := tab.shot(tb, name, w)
		if overflow > 0 {
			tb.Errorf("page %q at %d px is %d px wider than the screen (see %s)", name, w, overflow, file)
		}
		for _, v := range tab.Axe(tb) {
			if seriousImpacts[v.Impact] {
				tb.Errorf("page %q at %d px: axe-core: %s", name, w, v)
			}
		}
	}
	tab.Run(tb, chromedp.EmulateViewport(Desktop, 900))
	tab.mu.Lock()
	problems := tab.problems
	tab.problems = nil
	tab.mu.Unlock()
	for _, p := range problems {
		tb.Errorf("page %q: %s", name, p)
	}
}
