# vmctl: the two commands a fresh Debian 12 / Ubuntu 24.04 host needs are
#   make demo   set up the host, build, build the guest image, run the demo
#   make test   set up the host, build, then unit + integration tests and
#               the fault suite
# Both run scripts/setup-host.sh first (root; idempotent).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := $(CURDIR)/bin
IMAGE_DIR ?= /var/lib/vmctl/images
# The image with vmctl's minimal kernel, kept apart from the default one.
MINIMAL_IMAGE_DIR ?= /var/lib/vmctl/images-minimal
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"
# The agent's hash is an image input: build it the same way every time so an
# unchanged source tree reuses the cached image.
AGENT_FLAGS := -trimpath -buildvcs=false -ldflags "-s -w"

export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build setup image image-minimal demo test test-unit test-integration test-faults fuzz bench-boot bench-density bench-parallel clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(AGENT_FLAGS) -o $(BIN)/vmctl-agent ./cmd/vmctl-agent
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/vmctl ./cmd/vmctl

setup:
	scripts/setup-host.sh

image: build
	$(BIN)/vmctl --image-dir $(IMAGE_DIR) image build --agent $(BIN)/vmctl-agent

# The first build compiles the kernel (about 4 min on 2 cores; cached in
# /var/lib/vmctl/kernels), before the tests rather than during them.
image-minimal: build
	$(BIN)/vmctl --image-dir $(MINIMAL_IMAGE_DIR) image build --kernel minimal --agent $(BIN)/vmctl-agent

demo: setup image
	VMCTL=$(BIN)/vmctl scripts/demo.sh

test: setup image image-minimal
	VMCTL_MINIMAL_IMAGE_DIR=$(MINIMAL_IMAGE_DIR) scripts/test.sh

test-unit:
	$(GO) vet ./...
	$(GO) test ./...

test-integration: image image-minimal
	VMCTL_BIN=$(BIN) VMCTL_MINIMAL_IMAGE_DIR=$(MINIMAL_IMAGE_DIR) $(GO) test -tags integration -count=1 -timeout 40m ./...

# The fault suite (faults/, build tag faults): each scenario boots real
# minimal-kernel guests, breaks something on purpose (a hostile agent, a
# guest that panics, a flood, 50 lifecycles at once, ...) and checks the
# behaviour, the exit codes and that no domain, socket, claim, scratch disk
# or state directory is left. It ends with a table (scenario, runs, passed,
# leftovers, time, and what each measured), also saved as
# bin/faults-table.txt and bin/faults-table.json. REPEAT=N runs every
# scenario N times as often, for soaks: make test-faults REPEAT=5
REPEAT ?= 1
test-faults: image-minimal
	VMCTL_BIN=$(BIN) VMCTL_MINIMAL_IMAGE_DIR=$(MINIMAL_IMAGE_DIR) $(GO) test -tags faults -count=1 -timeout 55m -v ./faults/ -args -repeat $(REPEAT)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReadFrame -fuzztime 30s ./agent

# vmctl's boot (minimal kernel, PVH, trimmed devices) against a stock
# libvirt boot of Debian's kernel (q35, bzImage, SeaBIOS), alternated.
bench-boot: image image-minimal
	$(BIN)/vmctl --image-dir $(MINIMAL_IMAGE_DIR) bench boot --count 5 --stock-image-dir $(IMAGE_DIR)

# 50 idle minimal-kernel VMs: per-VM PSS, idle CPU, ping p99 at each count.
bench-density: image-minimal
	$(BIN)/vmctl --image-dir $(MINIMAL_IMAGE_DIR) bench density --max 50 --degrade 100 --settle 3s

# Time to N VMs ready from zero against N × single-boot CPU / cores.
bench-parallel: image-minimal
	$(BIN)/vmctl --image-dir $(MINIMAL_IMAGE_DIR) bench parallel --counts 1,2,4,8,16

clean:
	rm -rf $(BIN)
