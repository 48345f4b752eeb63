// Package gatestate reads the state of a feature gate registered by
// another component, without registering it.
//
// tailgate's components follow some of upstream's feature gates (for
// example the span metrics connector's collector.instance.id gate). They
// must not register upstream's gate IDs themselves: a distribution may
// link upstream's component next to ours, and registering one ID twice
// panics at start. So a component asks for the gate by ID: when upstream
// registered it, its state (including --feature-gates on the command
// line) is followed; when nobody did, the component uses the same default
// as upstream's gate.
package gatestate
