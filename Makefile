# mini: make help lists the targets.
GO      ?= go
IMAGE   ?= rootfs/busybox
STEP    ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help build install rootfs test test-unit demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build bin/mini
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/mini ./mini

install: build ## copy bin/mini to /usr/local/bin, so "sudo mini" works
	install -m 755 bin/mini /usr/local/bin/mini

rootfs: $(IMAGE)/bin/busybox ## build the busybox image in rootfs/busybox

$(IMAGE)/bin/busybox:
	sh scripts/mkrootfs.sh $(IMAGE)

# MINI_NO_SKIP=1: a scenario that cannot run its containers fails, not skips.
test: build rootfs ## run every test as root: unit tests and the container scenarios
	MINI_NO_SKIP=1 $(GO) test -count=1 -timeout 30m ./...

test-unit: ## the tests that need no root
	$(GO) test -count=1 -skip 'TestScripts|TestDocs' ./...

demo: build rootfs ## run the same command at every step and show what changed
	sh scripts/demo.sh

bench: build rootfs ## time mini at every step against unshare (needs root)
	sh scripts/bench.sh

clean: ## remove what the build made
	rm -rf bin rootfs/busybox rootfs/busybox.new
