package hashring

// Option configures New. The interface is sealed: only this package
// provides options.
type Option interface{ apply(*options) }

type options struct {
	weights map[string]int
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// MaxWeight is the largest weight WithWeights honours.
const MaxWeight = 256

// WithWeights gives endpoints a share of the keys proportional to their
// weight. Endpoints absent from the map weigh 1, weights below 1 count as
// 1 and weights above MaxWeight as MaxWeight; keys of the map that are not
// endpoints are ignored. Lookups cost the same as without weights; the
// build costs about log(total weight) instead of log(n) per slot.
//
// Weights are part of the ring's definition: agents must agree on them as
// they agree on the set. A ring whose weights are all 1 is identical to a
// ring built without WithWeights, and raising an endpoint's weight only
// moves keys to it (lowering only moves keys away from it). An endpoint of
// weight w behaves exactly like w endpoints that route to the same place,
// so AppendChoices keeps its contract.
func WithWeights(weights map[string]int) Option {
	cp := make(map[string]int, len(weights))
	for k, v := range weights {
		cp[k] = v
	}
	return optionFunc(func(o *options) { o.weights = cp })
}

// weightOf clamps an endpoint's weight into [1, MaxWeight].
func (o *options) weightOf(endpoint string) int {
	w, ok := o.weights[endpoint]
	if !ok {
		return 1
	}
	return min(max(w, 1), MaxWeight)
}
