// Package policytest helps test a tail sampling policy on its own, without
// a processor: NewTrace turns a ptrace.Traces into the policy.Trace that
// Evaluate receives.
//
//	tr := policytest.NewTrace(td)
//	d, err := myPolicy.Evaluate(ctx, tr)
//
// The trace is read straight from td (nothing is copied), so a test can
// also check that a policy never modifies what it evaluates by marking td
// read-only first (pdata then panics on any write).
package policytest
