// Package telemetrytest keeps each component's self-telemetry and its
// documentation in step.
//
// Every component documents its instruments in a metadata.yaml in the
// format of the collector's mdatagen (name, type, unit, attributes,
// meaning); documentation.md next to it is rendered from that file by
// mdatagen (`make telemetry-docs`). A component's test builds and starts
// the component with a Recorder as its MeterProvider, drives some data
// through it, and calls Check, which fails when:
//
//   - an instrument of a tailgate scope was created but is not documented
//     (the message is the metadata.yaml block to add);
//   - a documented instrument was never created;
//   - name, kind, unit, description or histogram buckets differ;
//   - a measurement carried an attribute the metric does not document, or a
//     value outside the attribute's documented enum;
//   - documentation.md does not list what metadata.yaml says (stale).
//
// The Recorder observes real registration: it wraps the SDK's
// MeterProvider and records every instrument as the component creates it,
// so no hand-kept list can drift from the code.
package telemetrytest
