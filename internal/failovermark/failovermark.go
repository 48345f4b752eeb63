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
// the mark. It reads the one key, so that an unmarked request costs no
// allocation (FromIncomingContext would copy all of its metadata).
func Incoming(ctx context.Context) bool {
	for _, v := range metadata.ValueFromIncomingContext(ctx, Header) {
		if v == "1" {
			return true
		}
	}
	return false
}
