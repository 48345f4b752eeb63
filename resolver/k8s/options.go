package k8s

import (
	"time"

	"k8s.io/client-go/kubernetes"
)

// DefaultNamespaceFile is where a pod finds its own namespace.
const DefaultNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Option configures a k8s Resolver beyond its YAML config.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	newClient      func() (kubernetes.Interface, error)
	namespaceFile  string
	logEvery       time.Duration
	initialBackoff time.Duration
}

// WithClientset uses cs instead of building the in-cluster client
// (tests inject k8s.io/client-go/kubernetes/fake here).
func WithClientset(cs kubernetes.Interface) Option {
	return optionFunc(func(o *options) {
		o.newClient = func() (kubernetes.Interface, error) { return cs, nil }
	})
}

// WithClientFactory builds the client with f, which is retried with
// backoff while it fails.
func WithClientFactory(f func() (kubernetes.Interface, error)) Option {
	return optionFunc(func(o *options) { o.newClient = f })
}

// WithNamespaceFile reads the default namespace from path instead of the
// service-account file.
func WithNamespaceFile(path string) Option {
	return optionFunc(func(o *options) { o.namespaceFile = path })
}

// WithLogInterval sets how often a failure may be logged (default: the
// config's timeout).
func WithLogInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.logEvery = d })
}

// WithInitialBackoff sets the first delay before building the client again
// after it failed (default 1s, doubling up to the timeout).
func WithInitialBackoff(d time.Duration) Option {
	return optionFunc(func(o *options) { o.initialBackoff = d })
}
