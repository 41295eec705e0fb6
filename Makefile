# Anchorwatch — build, test, benchmark, demo.
SHELL := /bin/bash
GO ?= go
BIN := bin/anchorwatch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 5s
PKG_VERSION ?= 0.1.0

.PHONY: all build signer test deps unit fuzz cross lint bench demo packages clean

all: build

# Static (no cgo): the same binary runs on every glibc and on musl (Debian
# 11, Ubuntu 20.04, RHEL 8, Alpine); a cgo build needs glibc >= 2.34.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/anchorwatch

# The signing workstation's build: policy sign/cosign on a PKCS#11 token.
# purego makes it dynamically linked (glibc), so it is not the agent build.
signer:
	CGO_ENABLED=0 $(GO) build -trimpath -tags pkcs11 -ldflags '$(LDFLAGS)' -o bin/anchorwatch-signer ./cmd/anchorwatch

# The full suite CI runs: static checks, cross builds, unit + integration
# tests against the real tools, then a short run of every fuzz target.
test: deps lint cross unit fuzz packages

# The real peers the tests run against (installed with apt-get when root).
deps:
	./scripts/test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet -tags pkcs11 ./policy/pkcs11/... ./cmd/anchorwatch/

cross:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./...
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./...
	GOOS=windows GOARCH=amd64 $(GO) build -tags pkcs11 -o /dev/null ./...
	GOOS=darwin GOARCH=arm64 $(GO) build -tags pkcs11 -o /dev/null ./...

unit: build
	$(GO) test -count=1 -timeout 25m ./...
	CGO_ENABLED=0 $(GO) test -count=1 -tags pkcs11 -run 'SoftHSM|PKCS11' ./policy/pkcs11/ ./cmd/anchorwatch/

# Every Fuzz* target, FUZZTIME each; seeds live in testdata/fuzz. A failure is
# shown and the target run again: a crasher is kept in testdata/fuzz and fails
# the second run too, a worker the fuzzer thought hung on a loaded machine not.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  d=$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/func //'); do \
	    echo "fuzz $$d $$t ($(FUZZTIME))"; \
	    out=$$($(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$d 2>&1) || { \
	      echo "$$out" | tail -25; \
	      echo "fuzz $$d $$t failed; running it again (a crasher it found is in testdata/fuzz and fails again)"; \
	      $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$d || exit 1; }; \
	  done; \
	done

bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 -timeout 30m ./...

demo: build
	./scripts/demo.sh

# Every deployment artifact for the demo collector into dist/: deb, rpm,
# signed MSI, pkg, mobileconfig, GPO and Intune kits (scripts/packages.sh).
packages:
	PKG_VERSION=$(PKG_VERSION) ./scripts/packages.sh

clean:
	rm -rf bin dist
