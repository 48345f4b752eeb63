package dns

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// testServer is a real DNS server on 127.0.0.1 whose answers tests change
// while a resolver runs.
type testServer struct {
	t    *testing.T
	addr string

	mu    sync.Mutex
	ips   map[string][]string // fqdn → addresses (v4 and v6)
	srvs  map[string][]*mdns.SRV
	rcode int           // forced rcode when not RcodeSuccess
	delay time.Duration // answer this late

	queries    atomic.Int64
	tcpQueries atomic.Int64
	stopCh     chan struct{}
	srv        *mdns.Server
	tcp        *mdns.Server
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{t: t, ips: map[string][]string{}, srvs: map[string][]*mdns.SRV{}}
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start(addr string) {
	s.t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		s.t.Fatalf("listen: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	s.mu.Lock()
	s.stopCh = make(chan struct{})
	s.mu.Unlock()
	s.srv = &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	// TCP on the same port, for answers truncated over UDP. Best effort:
	// after a restart the port may be taken by another test's listener.
	if ln, err := net.Listen("tcp", s.addr); err == nil {
		tcpStarted := make(chan struct{})
		s.tcp = &mdns.Server{Listener: ln, Handler: mdns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(tcpStarted) }}
		go func() { _ = s.tcp.ActivateAndServe() }()
		<-tcpStarted
	}
}

// stop shuts the server down; queries then fail (port unreachable).
func (s *testServer) stop() {
	if s.srv == nil {
		return
	}
	s.mu.Lock()
	close(s.stopCh)
	s.mu.Unlock()
	_ = s.srv.Shutdown()
	s.srv = nil
	if s.tcp != nil {
		_ = s.tcp.Shutdown()
		s.tcp = nil
	}
}

// restart serves again on the same address.
func (s *testServer) restart() { s.start(s.addr) }

func (s *testServer) setA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ips == nil {
		delete(s.ips, mdns.Fqdn(name))
		return
	}
	s.ips[mdns.Fqdn(name)] = ips
}

func (s *testServer) setSRV(name string, recs ...*mdns.SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srvs[mdns.Fqdn(name)] = recs
}

func (s *testServer) setRcode(rc int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode = rc
}

func (s *testServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *testServer) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	s.queries.Add(1)
	s.mu.Lock()
	delay, rcode, stopCh := s.delay, s.rcode, s.stopCh
	q := req.Question[0]
	ips, known := s.ips[q.Name]
	srvs, knownSRV := s.srvs[q.Name]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-stopCh:
			return
		}
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Compress = true // as real servers do: large answers fit a TCP message
	switch {
	case rcode != mdns.RcodeSuccess:
		m.Rcode = rcode
	case !known && !knownSRV:
		m.Rcode = mdns.RcodeNameError
	default:
		hdr := mdns.RR_Header{Name: q.Name, Class: mdns.ClassINET, Ttl: 1}
		switch q.Qtype {
		case mdns.TypeA, mdns.TypeAAAA:
			for _, ip := range ips {
				p := net.ParseIP(ip)
				if p4 := p.To4(); p4 != nil && q.Qtype == mdns.TypeA {
					h := hdr
					h.Rrtype = mdns.TypeA
					m.Answer = append(m.Answer, &mdns.A{Hdr: h, A: p4})
				} else if p4 == nil && q.Qtype == mdns.TypeAAAA {
					h := hdr
					h.Rrtype = mdns.TypeAAAA
					m.Answer = append(m.Answer, &mdns.AAAA{Hdr: h, AAAA: p})
				}
			}
		case mdns.TypeSRV:
			for _, r := range srvs {
				rr := *r
				rr.Hdr = hdr
				rr.Hdr.Rrtype = mdns.TypeSRV
				m.Answer = append(m.Answer, &rr)
			}
		}
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		// As a real server does: what does not fit the client's buffer
		// is truncated, and the client asks again over TCP.
		m.Truncate(mdns.MinMsgSize)
	} else {
		s.tcpQueries.Add(1)
	}
	_ = w.WriteMsg(m)
}
