// Package policies is the tail sampler's policy engine: the built-in
// policy types (their YAML blocks, factories and evaluation), the registry
// that builds a `policies:` list from built-in and custom types and
// validates it with errors naming each key, and Set, the evaluator that
// combines the top-level verdicts with upstream's precedence and records
// the per-policy metrics.
//
// The contract a policy implements is public, in package policy; this
// package is internal so that the built-ins' types stay free to change.
// Package tailsampler exposes the configuration types under aliases
// (tailsampler.PolicyCfg and the blocks).
//
// Guarantees:
//
//   - Every built-in type is built through the same policy.Factory
//     signature a custom type registers, so and/not/drop/composite nest
//     custom types too; Validate and New report the same errors, every one
//     at once, each prefixed with its place (`policies[i] (name)::type::key`).
//   - Built-in policies are safe for concurrent use. Their Evaluate does
//     not allocate (scans go through policy.AnyMatch or a pooled scanner),
//     and Set.Decide adds no allocation of its own: attribute sets are
//     built once per policy, when the set is.
//   - Decisions are upstream contrib's, except the documented differences
//     in tailsampler/README.md (a compat test checks them trace by trace).
//   - Set.DecideTally counts per-policy outcomes into a Tally that the
//     caller flushes once per decision round, so the metrics cost one Add
//     per policy and outcome per round instead of per trace.
package policies
