package failovermark

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// Header is the gRPC metadata key of the mark (lowercase, as gRPC
// requires). Its value is "1".
const Header = "tailgate-failover"

// Outgoing returns ctx with the mark added to the outgoing gRPC metadata,
// keeping any metadata ctx already carries.
func Outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, Header, "1")
}

// Incoming reports whether the request whose server context is ctx carries
// the mark. It does not allocate when the request has no metadata.
func Incoming(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	for _, v := range md.Get(Header) {
		if v == "1" {
			return true
		}
	}
	return false
}
