# jetmon-bridge. `make demo` runs the bridge following a throwaway replica of a throwaway primary;
# `make test` runs every test against real, throwaway MariaDB servers.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BUILDVCS  := $(shell [ -d .git ] && echo -buildvcs=true || echo -buildvcs=false)

.PHONY: build test demo vet clean

build:
	$(GO) build $(BUILDVCS) -trimpath -ldflags '$(LDFLAGS)' -o bin/jetmon-bridge ./cmd/jetmon-bridge
	$(GO) build $(BUILDVCS) -trimpath -ldflags '$(LDFLAGS)' -o bin/jetmon-sim ./cmd/jetmon-sim

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

# Every package with the race detector, against throwaway MariaDB servers.
# gotestsum (pinned in go.mod as a tool) prints each test as it ends and
# closes with "DONE N tests, N skipped, N failures", skipped tests by name.
test: vet
	$(GO) tool gotestsum --format testname --format-hide-empty-pkg -- -race -count=1 -timeout 30m ./...

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin .demo

# --- Docker modes (docker/; see README.md) --------------------------
# External mode joins the jetmon-shared network and reads docker/.env; local
# mode brings its own seeded, binlogging MySQL 8.0. Both publish the bridge on
# http://localhost:7400.
COMPOSE       ?= docker compose
COMPOSE_EXT   := $(COMPOSE) -f docker/compose.yml
COMPOSE_LOCAL := $(COMPOSE) -f docker/compose.local.yml

.PHONY: up down up-local down-local down-clean

up:
	@test -f docker/.env || { echo "docker/.env is missing: cp docker/.env-sample docker/.env and set JETMON_DSN in it" >&2; exit 1; }
	@docker network inspect jetmon-shared >/dev/null 2>&1 || { echo "the Docker network jetmon-shared does not exist: start Jetmon's stack, or docker network create jetmon-shared" >&2; exit 1; }
	BRIDGE_VERSION=$(VERSION) $(COMPOSE_EXT) up -d --build
	@echo "jetmon-bridge is starting on http://localhost:7400 (logs: $(COMPOSE_EXT) logs -f bridge)"

down:
	$(COMPOSE_EXT) down

up-local:
	BRIDGE_VERSION=$(VERSION) $(COMPOSE_LOCAL) up -d --build
	@echo "jetmon-bridge is starting on http://localhost:7400 once MySQL is ready (logs: $(COMPOSE_LOCAL) logs -f)"

down-local:
	$(COMPOSE_LOCAL) down

# Also wipes local mode's volumes: the MySQL data and the journal go together.
down-clean:
	$(COMPOSE_LOCAL) down --volumes

# Fault soak of the real binary (race build) following a throwaway MariaDB
# replica of a throwaway primary: SOAK_DURATION of faults (every kind at
# least once, so at least one round of all eleven), SOAK_SEED replays a run.
# `make test` runs one round of every fault kind: TestSoak's SOAK_DURATION
# defaults to 25s, and the first round always completes, which takes longer.
SOAK_DURATION ?= 3m
SOAK_SEED     ?=
SOAK_TIMEOUT  ?= 60m

.PHONY: soak
soak:
	SOAK_DURATION=$(SOAK_DURATION) SOAK_SEED=$(SOAK_SEED) CI=$${CI:-true} \
	  $(GO) test -count=1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' ./tests/soak

# Runs every fuzz target for FUZZTIME each. A crasher lands in the package's
# testdata/fuzz/<target>/ and from then on runs in `make test`: keep it.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	journal:FuzzDecodeRun journal:FuzzDecodeMonitorPage \
	journal:FuzzDecodeSpan journal:FuzzCheckpoint journal:FuzzOpen \
	server:FuzzJSONRPC server:FuzzParseEventsQuery server:FuzzParseMonitorBody \
	server:FuzzParseAllowedOrigins binlog:FuzzParseReplicationStatus \
	binlog:FuzzCompareHistory binlog:FuzzSelectiveDecoder \
	journal:FuzzDecodeSource journal:FuzzDecodeTrimmed

.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t#*:}; \
	  echo "== $$fn (./$$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# `make mutants` breaks the code on purpose, one tests/mutants/*.patch at a
# time, in a scratch copy of the tree, runs the tests the guarantee table of
# docs/ARCHITECTURE.md cites for it and fails when a mutation survives or
# does not build (docs/development.md, "Mutation testing"). Long, so not in
# `make test`. MUTANTS_FLAGS='-run lagging -v' picks patches by file name.
MUTANTS_FLAGS ?=

.PHONY: mutants
mutants:
	$(GO) run ./tests/mutants $(MUTANTS_FLAGS)

# `make bench` runs the benchmark suite against a throwaway MariaDB and writes
# docs/BENCHMARKS.md and docs/bench-results.json, then the README's and the
# pages' figures from the latter (raw results and CPU profiles go to
# bin/bench-out). BENCH_SCALE=0.1 shrinks it for a quick look.
# `make bench-docs` only writes the figures again from the results file,
# and docs/bench-notes.md into BENCHMARKS.md (after editing the notes).
.PHONY: bench bench-docs
BENCH_TIME ?= 1s
bench:
	$(GO) build -o bin/jetmon-bench ./cmd/jetmon-bench
	mkdir -p bin/bench-out
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCH_TIME) ./binlog ./journal . | tee bin/bench-out/micro.txt
	./bin/jetmon-bench -dir bin/bench-out -out docs/BENCHMARKS.md -micro bin/bench-out/micro.txt

bench-docs:
	$(GO) run ./cmd/jetmon-bench docs
