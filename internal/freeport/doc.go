// Package freeport finds a TCP port free on several loopback addresses at
// once, so that one DNS name with one A record per address and a single
// port reaches them all, as a headless Service does in Kubernetes.
package freeport
