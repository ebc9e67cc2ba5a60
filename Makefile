# mini: make help lists the targets.
GO      ?= go
IMAGE   ?= rootfs/busybox
STEP    ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help build rootfs test test-unit demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build bin/mini
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/mini ./mini

rootfs: $(IMAGE)/bin/busybox ## build the busybox image in rootfs/busybox

$(IMAGE)/bin/busybox:
	sh scripts/mkrootfs.sh $(IMAGE)

test: build rootfs ## run every test; the scenarios need root (sudo make test)
	$(GO) test -count=1 ./...

test-unit: ## the tests that need no root
	$(GO) test -count=1 -run 'Test[^S]' ./...

demo: build rootfs ## run the same command at every step and show what changed
	sh scripts/demo.sh

bench: build rootfs ## time mini at every step against unshare (needs root)
	sh scripts/bench.sh

clean: ## remove what the build made
	rm -rf bin rootfs/busybox rootfs/busybox.new
