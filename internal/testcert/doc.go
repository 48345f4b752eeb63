// Package testcert makes the certificates of mutual-TLS tests: a CA and
// leaf certificates signed by it, written as PEM files, as cert-manager or
// openssl would produce them for a deployment.
//
// Keys are ECDSA P-256, certificates are valid for a day from one minute
// ago, and every leaf is usable by a server and by a client (the handoff
// listener and its peers share one certificate). Nothing is cached:
// every call generates fresh keys.
package testcert
