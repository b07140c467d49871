# kprobe: find out whether Kubernetes can run in this sandbox.
#
#   make scan     build kprobe and scan this machine
#   make test     install and build what the tests need, then run them all (as root):
#                 unit and live tests, the sandbox zoo with its cgroup v2 VM, and a real
#                 cluster end to end
#   make test-short  unit tests only, no cluster, no zoo
#   make fuzz     every fuzz target for FUZZTIME (3000 executions) each, under a memory limit
#   make engine   build the upstream Kubernetes components, helm, kwok (for
#                 launch --simulate-nodes) and kube-network-policies (the
#                 NetworkPolicy enforcer) into bin/engine and install etcd,
#                 containerd, runc and the CNI plugins
#   make images   build the pause and busybox image archives into bin/images
#   make addons   build CoreDNS and local-path-provisioner (the cluster DNS and
#                 storage launch deploys) and their image archives into bin/images
#   make zoo      run kprobe scan inside every sandbox of test/zoo and check
#                 test/zoo/expectations.toml (root; ~20 s cached, minutes cold)
#   make zoo-report    research/zoo.md from the last zoo run
#   make zoo-launch    launch, verify and stop a cluster inside the zoo's sandboxes,
#                      evidence into research/evidence/launches (root; ~4 min)
#   make zoo-vm        the same in the zoo's cgroup v2 VM alone (qemu, TCG; root; 15-35 min;
#                      make test runs it too)
#   make zoo-launch-report  research/launches/ and research/criteria/ from that evidence
#   make zoo-fixtures  recapture probes/testdata/sandboxes/* in the zoo, regenerate golden files
#   make zoo-anchors   research/anchors.md: kprobe scan beside check-config, kubeadm preflight,
#                      systemd-detect-virt and virt-what in every zoo sandbox (root; host lock)
#   make bench    the scan benchmarks
#   make soak-1h  launch a T0 cluster in its own data dir, soak it for an hour, stop it;
#                 the result into research/evidence/soak-1h.json (root; hold the host lock
#                 for the whole hour: flock /tmp/kprobe-host.lock make soak-1h)
#   make bench-process  whole-process medians of kprobe scan (full, passive) alternated
#                 with a shell check-config, as a user waits for them (root; host lock)
#   make lint     gofmt, go vet, staticcheck, the import-direction test
#   make docs     regenerate docs/probes.md and docs/findings.md from the registry

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/kprobe/kprobe/cmd/kprobe/app.Version=$(VERSION)
# libcontainer's nsenter (the container probe) needs cgo.
export CGO_ENABLED := 1
# Go's own user and DNS lookups instead of glibc's NSS, which a static
# binary cannot load: one set of compiled packages for bin/kprobe and
# bin/kprobe-static, so that `make static` only links.
TAGS      := osusergo,netgo
STATICCHECK_VERSION := v0.8.2
# Debian packages the probes and their tests use (tmux: the TUI's terminal test;
# nftables: `nft list tables` in the host check, installed with iptables only as a Recommends).
DEB_PACKAGES := iptables nftables fuse-overlayfs uidmap iproute2 gcc libc6-dev tmux
# What the kubernetes engine runs besides the components built from source.
ENGINE_PACKAGES := etcd-server containerd runc containernetworking-plugins busybox-static
# What only the tests use: headless Chromium renders the HTML report (reports/);
# mkfs.ext4 makes the disk of the zoo's cgroup v2 VM (test/zoo/vm).
TEST_PACKAGES := chromium e2fsprogs
# qemu runs the zoo's cgroup v2 VM; without its Recommends (a GUI, firmware
# for other machines). Its kernel is Debian's, fetched by `test/zoo/vm setup`
# (zoo setup, which the zoo tests run) with apt-get download.
VM_PACKAGES := qemu-system-x86
# The checkers make zoo-anchors runs beside kprobe (systemd-detect-virt comes with systemd).
ANCHOR_PACKAGES := systemd virt-what

.PHONY: all build scan test test-deps test-short fuzz zoo zoo-report zoo-launch zoo-vm zoo-launch-report zoo-fixtures zoo-anchors bench bench-process soak-1h lint docs deps apt engine engine-deps images addons bundle static clean

all: build

# kprobe, and next to it kprobe-cluster (the cluster commands, launch,
# verify, stop...: they link the Kubernetes client libraries, which would
# slow every scan, so kprobe is built without them, -tags nocluster, and
# runs kprobe-cluster for those), the process-pod node agent (it links the
# Kubernetes server libraries) and kprobe-probe, which runs a scan's active
# probes in its children. kprobe-probe is linked statically: a scan starts
# it ~25 times (probe children, their ops, runc inits), and each dynamic
# start paid the loader (libc mapped and relocated again): 157 against
# 178 ms CPU per full scan in one alternating run of make bench-process.
# kprobe-supervisor is the supervisor alone, which a launched cluster keeps
# running (about 9 MiB resident, against 23 as `kprobe supervise`).
build:
	$(GO) build -tags $(TAGS),nocluster -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kprobe ./cmd/kprobe
	$(GO) build -tags $(TAGS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kprobe-cluster ./cmd/kprobe-cluster
	$(GO) build -tags $(TAGS) -trimpath -ldflags '-extldflags -static' -o $(BIN)/kprobe-probe ./cmd/kprobe-probe
	$(GO) build -tags $(TAGS) -trimpath -ldflags '-X main.Version=$(VERSION)' -o $(BIN)/kprobe-node-agent ./cmd/kprobe-node-agent
	$(GO) build -tags $(TAGS) -trimpath -o $(BIN)/kprobe-supervisor ./cmd/kprobe-supervisor

scan: deps build
	$(BIN)/kprobe scan

# deps installs the Debian packages that are missing (root only; no-op when present).
deps:
	@$(MAKE) --no-print-directory apt PACKAGES="$(DEB_PACKAGES)"

engine-deps:
	@$(MAKE) --no-print-directory apt PACKAGES="$(ENGINE_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt PACKAGES="$(TEST_PACKAGES)"
	@$(MAKE) --no-print-directory apt PACKAGES="$(VM_PACKAGES)" APT_FLAGS=--no-install-recommends

apt:
	@missing=""; for p in $(PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root: apt-get install$$missing)"; exit 1; fi; \
		echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_FLAGS) $$missing >/dev/null; \
	fi

# The engine: kube-* and kubectl from k8s.io/kubernetes, helm from
# helm.sh/helm/v3 and kwok from sigs.k8s.io/kwok (about 3.5 min of it),
# each pinned by its own module under hack/. Cached by the Go build cache:
# about 10-20 min cold, about a minute warm.
engine: engine-deps
	hack/engine/build.sh $(BIN)/engine
	hack/helm/build.sh $(BIN)/engine
	hack/kwok/build.sh $(BIN)/engine
	hack/netpol/build.sh $(BIN)/engine

images: engine-deps
	hack/images/build.sh $(BIN)/images

# The add-ons, each from its own module under hack/addons: about 2.5 min
# cold (downloads included), seconds warm.
addons:
	hack/addons/build.sh $(BIN)/images

# A static kprobe for any Linux root filesystem (glibc, musl or none):
# libcontainer's nsenter linked in; the packages `make build` compiled
# (same tags and flags), linked statically. Like bin/kprobe it scans and
# plans itself and runs kprobe-cluster, when beside it, for the rest.
static: build
	$(GO) build -tags $(TAGS),nocluster -trimpath -ldflags '$(LDFLAGS) -extldflags -static' -o $(BIN)/kprobe-static ./cmd/kprobe

# One offline tarball of kprobe, the engine and the images (docs/install.md):
# `kprobe install --from FILE` on a machine without network.
bundle: build engine images addons
	$(BIN)/kprobe bundle create $(BIN)/kprobe-bundle-linux-$$($(GO) env GOARCH).tar.gz

# Three runs, one after another: the live tests watch the host for
# leftovers, so no cluster or sandbox may run beside them. The zoo's run
# includes the three launches in its cgroup v2 VM (KPROBE_ZOO_VM=1): about
# 15 min on a lightly loaded 2-core machine without KVM, each case bounded
# (50 min for the three: test/zoo/launch_test.go's vmCases), so a cold CI
# run stays under its 90 min (test/zoo/README.md).
test: deps test-deps build static engine images addons fuzz
	$(GO) test -p 1 -count=1 ./...
	PATH=$(BIN)/engine:$$PATH KPROBE_E2E=1 KPROBE_BIN=$(BIN)/kprobe $(GO) test -count=1 -timeout 45m -v ./test/e2e/
	KPROBE_ZOO=1 KPROBE_ZOO_LAUNCH=1 KPROBE_ZOO_VM=1 KPROBE_BIN=$(BIN)/kprobe $(GO) test -count=1 -timeout 75m -v ./test/zoo/

# The sandbox zoo (test/zoo/README.md): the first run installs runsc, podman,
# bubblewrap... and debootstraps a rootfs into /var/cache/kprobe-zoo.
zoo: build
	KPROBE_ZOO=1 KPROBE_BIN=$(BIN)/kprobe $(GO) test -count=1 -timeout 30m -v ./test/zoo/

zoo-report:
	$(GO) run ./test/zoo/report -in test/zoo/out -out research/zoo.md

# Launch, verify and stop a cluster inside the zoo's sandboxes
# (test/zoo/launch_test.go), keeping the evidence in research/; then the
# pages research/launches/ from it. Root; about 4 minutes.
zoo-launch: build engine images
	KPROBE_ZOO_LAUNCH=1 KPROBE_ZOO_EVIDENCE=$(CURDIR)/research/evidence/launches KPROBE_BIN=$(BIN)/kprobe \
		$(GO) test -count=1 -timeout 40m -run TestLaunchInZoo -v ./test/zoo/

# The launch in the zoo's cgroup v2 VM alone (test/zoo/launch_test.go's
# vmCases; make test runs them with the zoo): qemu without KVM, 15-35 min
# on the 2-core host (test/zoo/README.md), so kept out of zoo-launch. Root.
zoo-vm: build engine images
	KPROBE_ZOO_LAUNCH=1 KPROBE_ZOO_VM=1 KPROBE_ZOO_LAUNCH_ONLY=vm-v2,vm-v2-rootless,vm-v2-cgns KPROBE_ZOO_EVIDENCE=$(CURDIR)/research/evidence/launches \
		KPROBE_BIN=$(BIN)/kprobe $(GO) test -count=1 -timeout 55m -run TestLaunchInZoo -v ./test/zoo/

zoo-launch-report: build
	$(GO) run ./test/zoo/launchreport -in research/evidence/launches -out research/launches -criteria research/criteria
	$(BIN)/kprobe report merge research/evidence/launches/*/report.json -o md -f research/launches/facts.md

zoo-fixtures: build
	KPROBE_BIN=$(BIN)/kprobe test/zoo/capture-all.sh

# kprobe's scan and the checkers users run, side by side in every zoo
# sandbox, judged against the launches' rungs (test/zoo/anchors). Root,
# under the host lock (flock -o /tmp/kprobe-host.lock make zoo-anchors);
# about 3 minutes of zoo calls, plus kubeadm's build the first time.
zoo-anchors: build
	@$(MAKE) --no-print-directory apt PACKAGES="$(ANCHOR_PACKAGES)"
	test/zoo/anchors/build-kubeadm.sh $(BIN)/anchors
	$(GO) run ./test/zoo/anchors -kprobe $(BIN)/kprobe -kubeadm $(BIN)/anchors/kubeadm -kubelet $(BIN)/engine/kubelet

# Every reader of untrusted input has a fuzz target; hack/fuzz.sh runs
# them all (under a minute on 2 cores) and fails past 256 MiB of memory.
fuzz:
	GO=$(GO) hack/fuzz.sh

test-short:
	$(GO) test -short -count=1 ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 50x -count 5 ./probes/suite/ | tee bench.txt

SOAK_DATA_DIR  ?= /tmp/kprobe-soak-1h
SOAK_DURATION  ?= 60m
SOAK_OUT       ?= research/evidence/soak-1h.json
soak-1h: build
	$(BIN)/kprobe launch --profile auto --no-tui --data-dir $(SOAK_DATA_DIR) --bin-dir $(BIN)/engine --images-dir $(BIN)/images; \
	rc=$$?; \
	if [ $$rc = 0 ]; then $(BIN)/kprobe soak --data-dir $(SOAK_DATA_DIR) --duration $(SOAK_DURATION) --out $(SOAK_OUT); rc=$$?; fi; \
	$(BIN)/kprobe stop --purge --data-dir $(SOAK_DATA_DIR); exit $$rc

bench-process: build
	$(GO) test -run '^$$' -bench WholeProcess -benchtime 10x -v ./test/bench/ | tee bench-process.txt

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(GO) vet -tags nocluster ./cmd/...
	$(BIN)/staticcheck -tags nocluster ./cmd/...
	$(GO) test -count=1 ./test/archtest

docs: build
	$(BIN)/kprobe gendocs --dir docs

clean:
	rm -rf $(BIN) bench.txt bench-process.txt hack/engine/.patched
