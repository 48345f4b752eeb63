package wire

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Sender exports traces over plain-text OTLP/gRPC, as an instrumented
// application would.
type Sender struct {
	mu      sync.Mutex
	closed  bool
	conns   map[string]*grpc.ClientConn
	clients map[string]ptraceotlp.GRPCClient
}

// NewSender returns a Sender with no connection yet.
func NewSender() *Sender {
	return &Sender{conns: map[string]*grpc.ClientConn{}, clients: map[string]ptraceotlp.GRPCClient{}}
}

func (s *Sender) client(addr string) (ptraceotlp.GRPCClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSenderClosed
	}
	if c, ok := s.clients[addr]; ok {
		return c, nil
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("sender: dial %s: %w", addr, err)
	}
	c := ptraceotlp.NewGRPCClient(cc)
	s.conns[addr], s.clients[addr] = cc, c
	return c, nil
}

// Send exports td to the collector at addr and waits for its answer.
func (s *Sender) Send(ctx context.Context, addr string, td ptrace.Traces) error {
	c, err := s.client(addr)
	if err != nil {
		return err
	}
	if _, err := c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		return fmt.Errorf("sender: export to %s: %w", addr, err)
	}
	return nil
}

// Close closes every connection. It is idempotent.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var first error
	for addr, cc := range s.conns {
		if err := cc.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.conns, addr)
		delete(s.clients, addr)
	}
	return first
}
