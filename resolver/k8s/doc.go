// Package k8s is the resolver that watches Kubernetes EndpointSlices
// (`resolver::k8s`).
//
// It runs one informer on discovery.k8s.io/v1 EndpointSlices labelled
// kubernetes.io/service-name=<service> in the service's namespace, merges
// the endpoints of all the service's slices, keeps only those whose ready
// condition is true (nil counts as ready, as the API documents), and gives
// each address every configured port. With return_hostnames it yields
// "<hostname>.<service>.<namespace>:<port>", as upstream does.
//
// Changes propagate as fast as the watch delivers them (typically well
// under a second); bursts of events are coalesced into one publication.
//
// Failure behaviour: nothing here fails Start. If the in-cluster client
// cannot be built, the error is counted and logged and building is retried
// with backoff. List or watch errors (API unreachable, RBAC denied) are
// counted as otelcol_loadbalancer_num_resolutions{resolver="k8s",
// success="false"}, logged at most once per timeout period, and the
// informer keeps retrying with its own backoff; the last good set stays.
// No set is published before the informer has listed every slice once, so
// a partial initial list is never seen. A service with no slices (missing
// service) or no ready endpoints publishes an empty set, with a
// rate-limited warning. With return_hostnames, a ready endpoint without a
// hostname makes the whole resolution a failure (stale over partial).
//
// Required RBAC: get, list and watch on endpointslices in the
// discovery.k8s.io API group, in the service's namespace.
package k8s
