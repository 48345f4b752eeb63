package failovermark

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
	"google.golang.org/grpc/metadata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIncoming(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"no metadata", context.Background(), false},
		{"other keys", metadata.NewIncomingContext(context.Background(), metadata.Pairs("x", "1")), false},
		{"marked", metadata.NewIncomingContext(context.Background(), metadata.Pairs(Header, "1")), true},
		{"marked among others", metadata.NewIncomingContext(context.Background(), metadata.Pairs("a", "b", Header, "1")), true},
		{"wrong value", metadata.NewIncomingContext(context.Background(), metadata.Pairs(Header, "yes")), false},
		{"header case folded by gRPC", metadata.NewIncomingContext(context.Background(), metadata.MD{Header: []string{"1"}}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Incoming(tt.ctx))
		})
	}
}

// What Outgoing writes is what Incoming reads once gRPC has carried it
// (outgoing metadata becomes the server's incoming metadata).
func TestOutgoingKeepsExistingMetadata(t *testing.T) {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "x")
	ctx = Outgoing(ctx)
	md, ok := metadata.FromOutgoingContext(ctx)
	assert.True(t, ok)
	assert.Equal(t, []string{"x"}, md.Get("authorization"))
	assert.True(t, Incoming(metadata.NewIncomingContext(context.Background(), md)))
	assert.False(t, Incoming(ctx), "outgoing metadata is not incoming")
}

// Whatever metadata a request carries, reading the mark neither panics nor
// sees it where it is not.
func FuzzIncoming(f *testing.F) {
	f.Add(Header, "1")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, key, value string) {
		md := metadata.Pairs(key, value)
		got := Incoming(metadata.NewIncomingContext(context.Background(), md))
		want := false
		for _, v := range md.Get(Header) {
			want = want || v == "1"
		}
		if got != want {
			t.Fatalf("Incoming(%q: %q) = %v", key, value, got)
		}
	})
}

// The handoff reads the mark on every request a gateway receives.
func TestIncomingUnmarkedDoesNotAllocate(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(),
		metadata.Pairs("content-type", "application/grpc", "user-agent", "otlp"))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Incoming(ctx) }))
}
