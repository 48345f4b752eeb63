package userdocs

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rule is one kind of wording that does not belong in user documentation.
type rule struct {
	why string
	re  *regexp.Regexp
}

var rules = []rule{
	{"a file outside the repository", regexp.MustCompile(`\.\./shared|(^|[^.\w])shared/(design|seed)/`)},
	{"the project's planning notes", regexp.MustCompile(`ANCHORS(\.md)?|DESIGN\.md`)},
	{`"the seed": say "the reference agent/gateway architecture"`, regexp.MustCompile(`(?i)\bthe seed\b|\bseed['’]s\b|\bseed (article|config|yaml|deployment|story)`)},
	{`"the article": say "the reference agent/gateway architecture"`, regexp.MustCompile(`(?i)\barticle(['’]s|s)?\b`)},
	{"an issue number of the project", regexp.MustCompile(`(?i)\bissues? #?\d+\b|\(#\d+\)`)},
	{"the machine the project was built on", regexp.MustCompile(`(?i)(module )?proxy (refuses|refused|does not serve|doesn't serve)|refused by the (module )?proxy`)},
	{"a link outside the repository", regexp.MustCompile(`https?://[^\s)>\]"'` + "`" + `]+`)},
}

// localURL matches the addresses that are not links to other sites:
// loopback and unspecified addresses, placeholders, in-cluster names.
var localURL = regexp.MustCompile(`^https?://(127\.|localhost\b|0\.0\.0\.0|\[::1?\]|host:|\$|\{\{|[a-z0-9-]+(\.[a-z0-9-]+)*\.(svc|example|local)\b|[a-z0-9-]+:\d)`)

// checked says whether the file at rel (slash-separated, from the root) is
// user documentation and which of its lines count: every line of Markdown,
// YAML and the Makefile; the comments of non-test Go files.
func checked(rel string, content []byte) (ok, goComments bool) {
	for _, dir := range strings.Split(rel, "/") {
		if dir == "testdata" || dir == ".git" || dir == "vendor" {
			return false, false
		}
	}
	base := filepath.Base(rel)
	switch {
	case strings.HasSuffix(base, "_test.go"):
		return false, false
	case strings.HasSuffix(base, ".go"):
		// Generated code carries its generator's comments.
		return !bytes.Contains(firstLine(content), []byte("Code generated")), true
	case strings.HasSuffix(base, ".md"), strings.HasSuffix(base, ".yaml"), strings.HasSuffix(base, ".yml"), base == "Makefile":
		return true, false
	}
	return false, false
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// violations returns "path:line: rule: text" for every offending line.
func violations(rel string, content []byte, goComments bool) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		text := line
		if goComments {
			i := strings.Index(line, "//")
			if i < 0 {
				continue
			}
			text = line[i+2:]
		}
		for _, r := range rules {
			for _, m := range r.re.FindAllString(text, -1) {
				if strings.HasPrefix(m, "http") && localURL.MatchString(m) {
					continue
				}
				out = append(out, fmt.Sprintf("%s:%d: %s: %s", rel, n, r.why, strings.TrimSpace(line)))
				break
			}
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		goComments bool
		want       bool
	}{
		{"outside file", "see ../shared/design/ANCHORS.md", false, true},
		{"seed", "The seed's deployment, working", false, true},
		{"seed article", "the seed article's agent", false, true},
		{"article", "phase 1 is the article's problem", false, true},
		{"issue", "### Build (issue 2): before → after", false, true},
		{"proxy", "which the module proxy does not serve", false, true},
		{"external link", "[builder](https://opentelemetry.io/docs/)", false, true},
		{"go comment", "x := 1 // as the article says", true, true},
		{"go code is not prose", `seeds := append(seeds, seed) // per endpoint`, true, false},
		{"hash seed", "// nodeSeed derives the hash seed of a virtual node", true, false},
		{"loopback URL", "curl http://127.0.0.1:8889/metrics", false, false},
		{"localhost URL", "go tool pprof http://localhost:1777/debug/pprof/profile", false, false},
		{"in-cluster URL", "url: http://prometheus.monitoring.svc:9090", false, false},
		{"reference architecture", "the reference agent/gateway architecture", false, false},
		{"tissue", "a tissue 3 times", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations("x", []byte(tt.line), tt.goComments)
			assert.Equal(t, tt.want, len(got) > 0, "%v", got)
		})
	}
}

// TestUserDocs walks the repository and fails on every line of user
// documentation that breaks a rule.
func TestUserDocs(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the repository root")
	var found []string
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ok, goComments := checked(rel, content)
		if !ok {
			return nil
		}
		files++
		found = append(found, violations(rel, content, goComments)...)
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, files, 50, "the walk found the repository's documentation")
	assert.Empty(t, found, "user documentation speaks of the library and the reference agent/gateway architecture:\n%s", strings.Join(found, "\n"))
}
