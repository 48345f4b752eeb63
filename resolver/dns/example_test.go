package dns_test

import (
	"context"
	"fmt"
	"net"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/tailgate-otel/tailgate/resolver"
	"github.com/tailgate-otel/tailgate/resolver/dns"
)

// A Go service follows a headless Service's DNS name. Here a throw-away
// DNS server on 127.0.0.1 stands in for the cluster DNS.
func Example() {
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		if req.Question[0].Qtype == mdns.TypeA {
			for _, ip := range []string{"10.0.0.2", "10.0.0.1"} {
				m.Answer = append(m.Answer, &mdns.A{
					Hdr: mdns.RR_Header{Name: req.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5},
					A:   net.ParseIP(ip),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer func() { _ = srv.Shutdown() }()

	r, err := dns.New(resolver.DNSConfig{
		Hostname:   "gateway-collector-headless.observability.svc.cluster.local",
		Port:       4317,
		Interval:   5 * time.Second,
		Timeout:    time.Second,
		Nameserver: pc.LocalAddr().String(),
	}, resolver.Settings{}, func(endpoints []string) {
		fmt.Println("gateways:", endpoints)
	})
	if err != nil {
		panic(err)
	}
	// Start resolves once before it returns, so the set is already known.
	_ = r.Start(context.Background())
	defer func() { _ = r.Shutdown(context.Background()) }()
	// Output:
	// gateways: [10.0.0.1:4317 10.0.0.2:4317]
}
