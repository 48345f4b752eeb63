package freeport

import (
	"errors"
	"net"
	"strconv"
)

// ErrNone is returned when no port was free on every host after a few tries.
var ErrNone = errors.New("freeport: no port is free on every host")

// Common returns a port that was free on every host when it returned. The
// kernel picks it on the first host; another program may still take it
// before the caller listens, which callers on a shared machine retry.
func Common(hosts ...string) (int, error) {
	if len(hosts) == 0 {
		return 0, errors.New("freeport: no host")
	}
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for _, h := range hosts[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			_ = l2.Close()
		}
		_ = l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, ErrNone
}
