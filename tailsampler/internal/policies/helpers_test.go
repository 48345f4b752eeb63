package policies

import (
	"hash"
	"hash/fnv"

	"go.opentelemetry.io/collector/confmap"
)

func newRefFNV() hash.Hash64 { return fnv.New64a() }

func confFrom(m map[string]any) *confmap.Conf { return confmap.NewFromStringMap(m) }
