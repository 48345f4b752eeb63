// Package dnsserver is a tiny authoritative DNS server on UDP for the
// examples: it answers A queries for the names it is given, so collectors on
// one machine can discover gateways the way a Kubernetes headless Service
// lets them (one A record per pod).
//
// Names are matched case-insensitively, fully qualified or not. A name that
// has records answers A with them and AAAA with nothing; any other name is
// NXDOMAIN. Set and Stop are safe for concurrent use with queries.
package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server answers A queries from a mutable table.
type Server struct {
	srv *dns.Server
	pc  net.PacketConn

	mu      sync.RWMutex
	records map[string][]netip.Addr
	queries int

	stopOnce sync.Once
	done     chan struct{}
}

// Start listens on addr ("127.0.0.1:0" picks a port) and serves until Stop.
func Start(addr string) (*Server, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dnsserver: listen on %s: %w", addr, err)
	}
	s := &Server{pc: pc, records: map[string][]netip.Addr{}, done: make(chan struct{})}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() {
		defer close(s.done)
		_ = s.srv.ActivateAndServe()
	}()
	<-started
	return s, nil
}

// Addr is the host:port the server answers on.
func (s *Server) Addr() string { return s.pc.LocalAddr().String() }

// Set replaces the A records of name; no address removes the name.
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := dns.Fqdn(strings.ToLower(name))
	if len(addrs) == 0 {
		delete(s.records, key)
		return
	}
	s.records[key] = append([]netip.Addr(nil), addrs...)
}

// Queries is the number of queries answered so far.
func (s *Server) Queries() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.queries
}

// Stop shuts the server down and waits for it. It is idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.srv.Shutdown()
		<-s.done
	})
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	s.mu.Lock()
	s.queries++
	var addrs []netip.Addr
	found := false
	if len(req.Question) == 1 {
		addrs, found = s.records[strings.ToLower(req.Question[0].Name)]
	}
	s.mu.Unlock()
	switch {
	case !found:
		resp.Rcode = dns.RcodeNameError
	case req.Question[0].Qtype == dns.TypeA:
		for _, a := range addrs {
			if a.Is4() {
				resp.Answer = append(resp.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   a.AsSlice(),
				})
			}
		}
	}
	_ = w.WriteMsg(resp)
}
