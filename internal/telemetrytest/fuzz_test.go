package telemetrytest

import (
	"os"
	"testing"
)

// FuzzParseDocumentation: any input yields metrics or an error, never a
// panic.
func FuzzParseDocumentation(f *testing.F) {
	raw, err := os.ReadFile("testdata/documentation.md")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("### a\n| Unit |\n| - |\n| x | y |\n#### Attributes\n| a |\n|-|\n| b |\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseDocumentation(b)
		if err != nil && ms != nil {
			t.Fatalf("metrics returned with error %v", err)
		}
	})
}

// FuzzParseMetadata: any input decodes or fails, and a decoded file can be
// compared without a panic.
func FuzzParseMetadata(f *testing.F) {
	raw, err := os.ReadFile("testdata/metadata.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("scope_name: s\ntelemetry:\n  metrics:\n    a: {sum: {value_type: int}, attributes: [x]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseMetadata(b)
		if err != nil {
			return
		}
		_ = Compare([]*Doc{{Path: "m.yaml", Meta: md}}, goodInstruments(), goodObserved())
	})
}
