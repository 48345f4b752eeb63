package k8s

import (
	"fmt"
	"net"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// errMissingHostname is returned when return_hostnames is set and a ready
// endpoint has no hostname.
var errMissingHostname = fmt.Errorf("ready endpoints without a hostname; " +
	"return_hostnames needs pods whose hostname and subdomain name the service (a StatefulSet whose serviceName is this headless service)")

// collect merges the ready endpoints of the service's slices into
// "host:port" strings (unsorted, possibly duplicated).
func collect(objs []any, service, namespace string, ports []int32, hostnames bool) ([]string, error) {
	portStrs := make([]string, len(ports))
	for i, p := range ports {
		portStrs[i] = strconv.Itoa(int(p))
	}
	var out []string
	missing := 0
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		// The label is re-checked because a watch may deliver more than the
		// selector asked for (some fakes and proxies do).
		if !ok || es.Labels[discoveryv1.LabelServiceName] != service || es.Namespace != namespace {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if hostnames {
				if ep.Hostname == nil || *ep.Hostname == "" {
					missing++
					continue
				}
				host := *ep.Hostname + "." + service + "." + namespace
				for _, p := range portStrs {
					out = append(out, net.JoinHostPort(host, p))
				}
				continue
			}
			for _, addr := range ep.Addresses {
				for _, p := range portStrs {
					out = append(out, net.JoinHostPort(addr, p))
				}
			}
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d %w", missing, errMissingHostname)
	}
	return out, nil
}
