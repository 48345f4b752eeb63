package hashring_test

import (
	"fmt"
	"sync/atomic"

	"github.com/tailgate-otel/tailgate/hashring"
)

func Example() {
	ring := hashring.New([]string{
		"gateway-2.svc:4317", "gateway-0.svc:4317", "gateway-1.svc:4317",
		"gateway-0.svc:4317", // duplicates and order do not matter
	})
	traceID := []byte{0x7f, 0xd3, 0x99, 0xb4, 0x66, 0xe7, 0x97, 0xfc, 0x95, 0x4c, 0x7c, 0xfa, 0x09, 0xbe, 0x27, 0xe4}
	fmt.Println(ring.Len(), ring.Get(traceID))
	// Output: 3 gateway-0.svc:4317
}

func ExampleRing_AppendChoices() {
	ring := hashring.New([]string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"})
	// Reuse dst across calls: with enough capacity it never allocates.
	dst := make([]int, 0, 2)
	dst = ring.AppendChoices(dst[:0], []byte("trace-42"), 2)
	// dst[0] owns the key; dst[1] owns it in the ring without dst[0], so
	// failing over to it sends the trace where a removal would.
	fmt.Println(ring.Endpoint(dst[0]), "then", ring.Endpoint(dst[1]))
	// Output: 10.0.0.2:4317 then 10.0.0.3:4317
}

func ExampleRing_GetString() {
	ring := hashring.New([]string{"a:4317", "b:4317"})
	fmt.Println(ring.GetString("checkout"))
	// Output: b:4317
}

func ExampleNew_swap() {
	// A ring is immutable: when the resolver reports a new set, build a new
	// ring and swap it in; readers never lock.
	var current atomic.Pointer[hashring.Ring]
	current.Store(hashring.New([]string{"10.0.0.1:4317"}))
	current.Store(hashring.New([]string{"10.0.0.1:4317", "10.0.0.2:4317"}))
	fmt.Println(current.Load().Len())

	empty := hashring.New(nil)
	fmt.Printf("%q %d\n", empty.Get([]byte("k")), empty.Index([]byte("k")))
	// Output:
	// 2
	// "" -1
}
