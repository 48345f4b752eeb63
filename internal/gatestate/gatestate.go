package gatestate

import "go.opentelemetry.io/collector/featuregate"

// Enabled reports the state of the gate id in the global registry, or
// def when no gate with that ID is registered.
func Enabled(id string, def bool) bool {
	return EnabledIn(featuregate.GlobalRegistry(), id, def)
}

// EnabledIn is Enabled for a given registry.
func EnabledIn(reg *featuregate.Registry, id string, def bool) bool {
	on, found := def, false
	reg.VisitAll(func(g *featuregate.Gate) {
		if !found && g.ID() == id {
			on, found = g.IsEnabled(), true
		}
	})
	return on
}
