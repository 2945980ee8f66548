# jetmon-bridge. `make demo` runs the bridge on a throwaway local database;
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

test: vet
	$(GO) test -race -count=1 ./...

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin .demo
