package telemetrytest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// NamePrefix is what mdatagen puts before every telemetry metric key of a
// metadata.yaml to form the instrument name.
const NamePrefix = "otelcol_"

// Metadata is the part of mdatagen's metadata.yaml this package reads.
type Metadata struct {
	Type        string               `json:"type"`
	DisplayName string               `json:"display_name,omitempty"`
	Description string               `json:"description,omitempty"`
	ScopeName   string               `json:"scope_name"`
	Status      any                  `json:"status,omitempty"`
	Attributes  map[string]Attribute `json:"attributes,omitempty"`
	Telemetry   struct {
		Metrics map[string]Metric `json:"metrics"`
	} `json:"telemetry"`
}

// Attribute is one entry of metadata.yaml's attributes.
type Attribute struct {
	Description  string   `json:"description"`
	Type         string   `json:"type"`
	Enum         []string `json:"enum,omitempty"`
	NameOverride string   `json:"name_override,omitempty"`
}

// Metric is one entry of metadata.yaml's telemetry.metrics.
type Metric struct {
	Enabled               bool     `json:"enabled"`
	Stability             string   `json:"stability"`
	Description           string   `json:"description"`
	ExtendedDocumentation string   `json:"extended_documentation,omitempty"`
	Optional              bool     `json:"optional,omitempty"`
	Unit                  string   `json:"unit"`
	Sum                   *Data    `json:"sum,omitempty"`
	Gauge                 *Data    `json:"gauge,omitempty"`
	Histogram             *Data    `json:"histogram,omitempty"`
	Attributes            []string `json:"attributes,omitempty"`
}

// Data is a metric's sum, gauge or histogram section.
type Data struct {
	Async            bool      `json:"async,omitempty"`
	ValueType        string    `json:"value_type"`
	Monotonic        bool      `json:"monotonic,omitempty"`
	BucketBoundaries []float64 `json:"bucket_boundaries,omitempty"`
}

// Shape returns the metric's data section as a Shape, and false when it
// does not have exactly one section.
func (m Metric) Shape() (Shape, []float64, bool) {
	var sh Shape
	var d *Data
	n := 0
	for name, s := range map[string]*Data{"sum": m.Sum, "gauge": m.Gauge, "histogram": m.Histogram} {
		if s != nil {
			sh.Data, d = name, s
			n++
		}
	}
	if n != 1 {
		return Shape{}, nil, false
	}
	sh.ValueType, sh.Async = d.ValueType, d.Async
	sh.Monotonic = sh.Data == "sum" && d.Monotonic
	return sh, d.BucketBoundaries, true
}

// ParseMetadata decodes a metadata.yaml strictly: a misspelt key is an
// error rather than a silently missing piece of documentation.
func ParseMetadata(raw []byte) (*Metadata, error) {
	var md Metadata
	if err := yaml.UnmarshalStrict(raw, &md); err != nil {
		return nil, err
	}
	if md.ScopeName == "" {
		return nil, errors.New("scope_name is required")
	}
	return &md, nil
}

// DocMetric is one metric as documentation.md renders it.
type DocMetric struct {
	Name        string
	Description string // first paragraph
	Unit        string
	MetricType  string // Sum, Gauge, Histogram
	ValueType   string // Int, Double
	Monotonic   string // "true"/"false" for sums, "" otherwise
	Attributes  []DocAttribute
}

// DocAttribute is one row of a metric's attribute table.
type DocAttribute struct {
	Name   string
	Type   string // Str, Bool, Int, Double, ...
	Values []string
}

// ParseDocumentation reads the metric sections of a documentation.md in
// mdatagen's layout: a "### name" heading, a description paragraph, the
// Unit / Metric Type / Value Type table and an optional attribute table.
func ParseDocumentation(raw []byte) ([]DocMetric, error) {
	var (
		out     []DocMetric
		cur     *DocMetric
		header  []string // columns of the table being read
		inAttrs bool
		inDesc  bool
	)
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(text, "### "):
			out = append(out, DocMetric{Name: strings.TrimSpace(text[4:])})
			cur, header, inAttrs, inDesc = &out[len(out)-1], nil, false, true
			continue
		case strings.HasPrefix(text, "## "), strings.HasPrefix(text, "# "):
			cur, header, inAttrs, inDesc = nil, nil, false, false
			continue
		case cur == nil:
			continue
		case strings.HasPrefix(text, "#### "):
			inAttrs, header, inDesc = strings.TrimSpace(text[5:]) == "Attributes", nil, false
			continue
		}
		if !strings.HasPrefix(text, "|") {
			if text == "" {
				if cur.Description != "" {
					inDesc = false
				}
				header = nil
				continue
			}
			if inDesc {
				cur.Description = strings.TrimSpace(cur.Description + " " + text)
			}
			continue
		}
		inDesc = false
		cells := tableCells(text)
		switch {
		case header == nil:
			header = cells
		case isSeparator(cells):
		case inAttrs:
			a, err := docAttribute(header, cells)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			cur.Attributes = append(cur.Attributes, a)
		default:
			if err := cur.setColumns(header, cells); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
	}
	return out, sc.Err()
}

func tableCells(row string) []string {
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	cells := strings.Split(row, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

func (m *DocMetric) setColumns(header, cells []string) error {
	if len(cells) != len(header) {
		return fmt.Errorf("%s: row has %d cells, header %d", m.Name, len(cells), len(header))
	}
	for i, h := range header {
		switch h {
		case "Unit":
			m.Unit = cells[i]
		case "Metric Type":
			m.MetricType = cells[i]
		case "Value Type":
			m.ValueType = cells[i]
		case "Monotonic":
			m.Monotonic = cells[i]
		}
	}
	return nil
}

func docAttribute(header, cells []string) (DocAttribute, error) {
	if len(cells) != len(header) || len(cells) < 3 {
		return DocAttribute{}, fmt.Errorf("attribute row has %d cells, header %d", len(cells), len(header))
	}
	a := DocAttribute{Name: cells[0]}
	// "Any Str", or "Str: ``a``, ``b``" for an enum.
	values := cells[2]
	if t, ok := strings.CutPrefix(values, "Any "); ok {
		a.Type = t
		return a, nil
	}
	t, enum, ok := strings.Cut(values, ":")
	if !ok {
		return DocAttribute{}, fmt.Errorf("attribute %s: cannot read values %q", a.Name, values)
	}
	a.Type = strings.TrimSpace(t)
	for v := range strings.SplitSeq(enum, ",") {
		a.Values = append(a.Values, strings.Trim(strings.TrimSpace(v), "`"))
	}
	return a, nil
}

// Doc is one component's documented telemetry.
type Doc struct {
	Path     string // of metadata.yaml
	Meta     *Metadata
	Markdown []DocMetric // documentation.md next to it
}

// DocFile is the name mdatagen gives the rendered documentation.
const DocFile = "documentation.md"

// Load reads a metadata.yaml and the documentation.md next to it.
func Load(metadataPath string) (*Doc, error) {
	raw, err := os.ReadFile(metadataPath)
	if err != nil {
		return nil, err
	}
	md, err := ParseMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metadataPath, err)
	}
	docPath := filepath.Join(filepath.Dir(metadataPath), DocFile)
	rawDoc, err := os.ReadFile(docPath)
	if err != nil {
		return nil, fmt.Errorf("%w (render it with `make telemetry-docs`)", err)
	}
	dm, err := ParseDocumentation(rawDoc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", docPath, err)
	}
	return &Doc{Path: repoPath(metadataPath), Meta: md, Markdown: dm}, nil
}

// repoPath returns p relative to the root of the module that holds it
// (e.g. lbexporter/metadata.yaml), so that a failure names the file the
// same way from every package; p itself if there is no such root.
func repoPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, abs); err == nil {
				return filepath.ToSlash(rel)
			}
			return p
		}
		if filepath.Dir(dir) == dir {
			return p
		}
	}
}
