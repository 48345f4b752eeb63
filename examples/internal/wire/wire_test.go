package wire

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func traces(id byte, spans ...byte) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{id})
		sp.SetSpanID(pcommon.SpanID{s})
	}
	return td
}

func TestSinkCountsDistinctSpansOverRealGRPC(t *testing.T) {
	sink, err := StartSink("127.0.0.1:0")
	require.NoError(t, err)
	defer sink.Stop()
	snd := NewSender()
	defer snd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, snd.Send(ctx, sink.Addr(), traces(1, 1, 2, 3)))
	require.NoError(t, snd.Send(ctx, sink.Addr(), traces(1, 3, 4))) // span 3 again
	require.NoError(t, snd.Send(ctx, sink.Addr(), traces(2, 1)))

	tests := []struct {
		trace byte
		want  int
	}{{1, 4}, {2, 1}, {3, 0}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sink.SpansOf(pcommon.TraceID{tt.trace}), "trace %d", tt.trace)
	}
	distinct, delivered := sink.Spans()
	assert.Equal(t, 5, distinct)
	assert.Equal(t, 6, delivered)
	assert.Equal(t, 2, sink.Traces())
	assert.False(t, sink.LastReceive().IsZero())
	require.NoError(t, sink.WaitQuiet(ctx, 50*time.Millisecond))

	require.NoError(t, snd.Close())
	assert.ErrorIs(t, snd.Send(ctx, sink.Addr(), traces(1, 1)), ErrSenderClosed)
}
