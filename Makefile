# One entry point for every check CI runs. `make test` is the command the
# README documents and the one .ci/run calls; the other targets are its parts.
GO          ?= go
# Modules in this repository: the library at the root and, when present, the
# examples and compat modules (their own go.mod so the library's dependency
# set stays lean; compat links upstream's components for differential tests).
MODULES     := . $(patsubst %/go.mod,%,$(wildcard examples/go.mod compat/go.mod))
FUZZTIME    ?= 5s
STATICCHECK_VERSION ?= v0.8.2
GOBIN       ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck

.PHONY: test vet staticcheck race fuzz bench tools demo telemetry-docs

test: vet staticcheck race fuzz

tools: $(STATICCHECK)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

vet:
	@set -e; for m in $(MODULES); do echo "== go vet ($$m)"; (cd $$m && $(GO) vet ./...); done

staticcheck: $(STATICCHECK)
	@set -e; for m in $(MODULES); do echo "== staticcheck ($$m)"; (cd $$m && $(STATICCHECK) ./...); done

# The examples' packages run one at a time: the end-to-end tests and the
# demo each start many collector processes with second-scale timings, and
# two of them at once on two cores decide traces late.
race:
	@set -e; for m in $(MODULES); do echo "== go test -race ($$m)"; \
		p=; if [ $$m = examples ]; then p="-p 1"; fi; \
		(cd $$m && $(GO) test -race -count=1 -timeout 20m $$p ./...); done

# Every Fuzz target of every package, each for FUZZTIME.
fuzz:
	@FUZZTIME=$(FUZZTIME) ./.ci/fuzz $(MODULES)

# Benchmarks are for people, not CI: the machine is shared and noisy.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Render each component's documentation.md from its metadata.yaml with the
# collector's mdatagen (not part of test: TestTelemetryDocumented in each
# package checks that both match what the code registers).
telemetry-docs:
	./.ci/telemetry-docs

# The reference architecture's story on one machine (see examples/README.md).
demo:
	cd examples && $(GO) run ./demo
