package handoff

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// newServer builds the handoff listener's gRPC server from listen::.
// Refusals that happen before the handler runs are counted too: a TLS
// handshake that fails (the TLS credentials are loaded here and wrapped,
// instead of by configgrpc), a request the auth extension refuses, a
// message over the size limit (a stats handler sees how those RPCs end).
func (e *Engine) newServer(ctx context.Context) (*grpc.Server, error) {
	sc := e.cfg.Listen
	opts := []configgrpc.ToServerOption{configgrpc.WithGrpcServerOption(grpc.StatsHandler(refusalStats{e: e}))}
	if sc.TLS.HasValue() {
		tlsCfg, err := sc.TLS.Get().LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		sc.TLS = configoptional.None[configtls.ServerConfig]()
		opts = append(opts, configgrpc.WithGrpcServerOption(grpc.Creds(countingCreds{TransportCredentials: credentials.NewTLS(tlsCfg), e: e})))
	}
	return sc.ToServer(ctx, e.ext, e.set, opts...)
}

// countingCreds counts and logs failed TLS handshakes as refusals.
type countingCreds struct {
	credentials.TransportCredentials
	e *Engine
}

func (c countingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.e.refuseFrom(raw.RemoteAddr(), RefusedTLS, zap.Error(err))
	}
	return conn, info, err
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{TransportCredentials: c.TransportCredentials.Clone(), e: c.e}
}

// rpcSeen tells the stats handler whether the handler ran for an RPC.
type rpcSeen struct{ handled atomic.Bool }

type rpcSeenKey struct{}

// markHandled records that the handler runs for the RPC of ctx: whatever
// it answers, it counted it itself.
func markHandled(ctx context.Context) {
	if s, ok := ctx.Value(rpcSeenKey{}).(*rpcSeen); ok {
		s.handled.Store(true)
	}
}

// refusalStats counts the RPCs refused before the handler ran: by the auth
// interceptor (Unauthenticated, PermissionDenied) or by gRPC's size limit
// (ResourceExhausted).
type refusalStats struct{ e *Engine }

func (refusalStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcSeenKey{}, &rpcSeen{})
}

func (h refusalStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok || end.Error == nil {
		return
	}
	if seen, ok := ctx.Value(rpcSeenKey{}).(*rpcSeen); !ok || seen.handled.Load() {
		return
	}
	var reason string
	switch status.Code(end.Error) {
	case codes.Unauthenticated, codes.PermissionDenied:
		reason = RefusedUnauthenticated
	case codes.ResourceExhausted:
		reason = RefusedTooLarge
	default:
		return
	}
	h.e.refuseFrom(peerAddr(ctx), reason, zap.Error(end.Error))
}

func (refusalStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (refusalStats) HandleConn(context.Context, stats.ConnStats)                       {}

// refuse counts a refused request and logs it, rate-limited, with the
// sender's address.
func (e *Engine) refuse(ctx context.Context, reason string, fields ...zap.Field) {
	e.refuseFrom(peerAddr(ctx), reason, fields...)
}

// peerAddr is the address of the gRPC peer of ctx (nil when unknown).
func peerAddr(ctx context.Context) net.Addr {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr
	}
	return nil
}

func (e *Engine) refuseFrom(addr net.Addr, reason string, fields ...zap.Field) {
	e.m.refused.Add(context.Background(), 1, e.m.refusedAttrs[reason])
	fields = append(fields, zap.String("reason", reason))
	if addr != nil {
		fields = append(fields, zap.String("sender", addr.String()))
	}
	e.logBad.Warn("handoff: refused a request to the handoff listener", fields...)
}

// admit applies accept_from to the sender of ctx. Under AcceptRing a
// sender must be a gateway of this gateway's view (or one that left it
// recently); it is refused as Unavailable, so that a gateway this one does
// not know yet (its view lags) retries until it does.
func (e *Engine) admit(ctx context.Context) error {
	if e.cfg.acceptFrom != AcceptRing {
		return nil
	}
	addr := peerAddr(ctx)
	a, ok := senderAddr(addr)
	if ok {
		admitted, names := e.senders.admits(a, time.Now())
		if admitted {
			return nil
		}
		if len(names) > 0 {
			e.resolveNames(names)
		}
	}
	e.refuseFrom(addr, RefusedNotPeer)
	return status.Errorf(codes.Unavailable, "handoff: sender %v is not a gateway of this gateway's view of the set", addr)
}

// resolveNames resolves the host names of the view in the background (one
// resolution at a time), so that senders are recognised by address.
func (e *Engine) resolveNames(names []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resolveNamesLocked(names)
}

// resolveNamesLocked is resolveNames with e.mu held.
func (e *Engine) resolveNamesLocked(names []string) {
	if !e.resolving.CompareAndSwap(false, true) {
		return
	}
	started := e.spawnLocked(func() {
		defer e.resolving.Store(false)
		for _, host := range names {
			ctx, cancel := context.WithTimeout(e.sendCtx, 5*time.Second)
			addrs, err := e.opts.lookup(ctx, host)
			cancel()
			if err != nil {
				e.logBad.Warn("handoff: cannot resolve a gateway's host name; its requests are refused until it resolves",
					zap.String("host", host), zap.Error(err))
				continue
			}
			e.senders.resolved(host, addrs, time.Now())
		}
	})
	if !started {
		e.resolving.Store(false)
	}
}

// sourceDialer makes connections to peers leave from this gateway's own
// ring address when that is an IP address of this machine, so that peers
// recognise the sender (accept_from: ring) on hosts with several
// addresses. Nil when the address cannot be bound (a host name, an
// address behind NAT): connections then leave from the system's choice.
func sourceDialer(self string) func(context.Context, string) (net.Conn, error) {
	ip, err := netip.ParseAddr(endpointHost(self))
	if err != nil {
		return nil
	}
	local := &net.TCPAddr{IP: ip.AsSlice()}
	probe, err := net.ListenTCP("tcp", local)
	if err != nil {
		return nil
	}
	_ = probe.Close()
	d := net.Dialer{LocalAddr: local}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
}

// warnIfPlaintext says once, at start, that handoff traffic is neither
// encrypted nor authenticated.
func (e *Engine) warnIfPlaintext() {
	listenTLS := e.cfg.Listen.TLS.HasValue()
	listenAuth := e.cfg.Listen.Auth.HasValue()
	ct := e.cfg.Client.TLS
	clientTLS := !ct.Insecure || ct.CAFile != "" || len(ct.CAPem) > 0
	if listenTLS && clientTLS {
		return
	}
	who := "whose address is in the gateway set"
	if e.cfg.acceptFrom == AcceptAny {
		who = "that can reach it"
	}
	if listenAuth {
		who = "that the auth extension accepts"
	}
	e.set.Logger.Warn("handoff: gateway-to-gateway traffic is plaintext: any host "+who+
		" can hand spans and sampling decisions to this gateway, and they travel unencrypted; "+
		"set handoff::listen::tls (with client_ca_file) and handoff::client::tls for mutual TLS",
		zap.String("listen", e.cfg.Listen.NetAddr.Endpoint), zap.Bool("listen_tls", listenTLS),
		zap.Bool("listen_auth", listenAuth), zap.Bool("client_tls", clientTLS), zap.String("accept_from", e.cfg.acceptFrom))
}
