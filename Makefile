# kprobe: find out whether Kubernetes can run in this sandbox.
#
#   make scan    build kprobe and scan this machine
#   make test    install what the tests need and run them (as root for the active probes)
#   make bench   the scan benchmarks
#   make lint    gofmt, go vet, staticcheck
#   make docs    regenerate docs/probes.md and docs/findings.md from the registry

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/kprobe/kprobe/cmd/kprobe/app.Version=$(VERSION)
# libcontainer's nsenter (the container probe) needs cgo.
export CGO_ENABLED := 1
STATICCHECK_VERSION := v0.8.2
# Debian packages the probes and their tests use.
DEB_PACKAGES := iptables fuse-overlayfs uidmap iproute2 gcc libc6-dev

.PHONY: all build scan test test-short bench lint docs deps clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kprobe ./cmd/kprobe

scan: deps build
	$(BIN)/kprobe scan

# deps installs the Debian packages that are missing (root only; no-op when present).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root: apt-get install$$missing)"; exit 1; fi; \
		echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps
	$(GO) test -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 50x -count 5 ./probes/suite/ | tee bench.txt

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	$(BIN)/staticcheck ./...

docs: build
	$(BIN)/kprobe gendocs --dir docs

clean:
	rm -rf $(BIN) bench.txt
