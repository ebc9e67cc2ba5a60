# mini: make help lists the targets.
GO      ?= go
IMAGE   ?= rootfs/busybox
STEP    ?=
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help build install rootfs test test-unit lab-check demo bench bench-image bench-build bench-oci realworld clean vm-test vm-clean conformance

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

# CGO_ENABLED=0: a static binary. Every run starts it twice (mini, then the
# child's re-exec of /proc/self/exe), and without the dynamic loader and libc
# each start is cheaper (docs/performance.md).
# bin/mini-image is mini pull, load and save: the registry client and the
# archive code, kept out of bin/mini so that it starts fast (docs/images.md).
build: ## build bin/mini and bin/mini-image
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/mini ./mini
	CGO_ENABLED=0 $(GO) build -o bin/mini-image ./mini/image/mini-image

install: build ## copy bin/mini and bin/mini-image to /usr/local/bin, so "sudo mini" works
	install -m 755 bin/mini bin/mini-image /usr/local/bin/

rootfs: $(IMAGE)/bin/busybox ## build the busybox image in rootfs/busybox

$(IMAGE)/bin/busybox:
	sh scripts/mkrootfs.sh $(IMAGE)

# MINI_NO_SKIP=1: a scenario that cannot run its containers fails, not skips.
# CGO_ENABLED=0 here too: the test binary stands in for mini, and --init runs
# it inside the container, where a dynamic binary finds no libc.
test: build rootfs ## run every test as root: unit tests and the container scenarios
	CGO_ENABLED=0 MINI_NO_SKIP=1 $(GO) test -count=1 -timeout 30m ./...

test-unit: ## the tests that need no root
	$(GO) test -count=1 -skip 'TestScripts|TestDocs|TestLabSkeletons' ./...

# STEP=N: your lab/NN step in place of mini's, against the scenarios that
# check it (step N's, and those marked "# lab-check: N"); STEP=all: every lab.
# In a throwaway mount namespace whose / is shared as on a systemd host (a
# mount the step leaks stays in it, and a / not made private fails as it
# would), and a UTS namespace of its own (a step that renames the host
# renames nothing).
lab-check: rootfs ## check your lab against its scenarios: sudo make lab-check STEP=3 (STEP=all: every lab)
	@test -n "$(STEP)" || { echo "make lab-check: which lab? sudo make lab-check STEP=3" >&2; exit 2; }
	@test "$$(id -u)" = 0 || { echo "make lab-check: the scenarios run containers: sudo make lab-check STEP=$(STEP)" >&2; exit 2; }
	unshare -m -u sh -c 'mount --make-rshared / && CGO_ENABLED=0 MINI_LAB=$(STEP) MINI_NO_SKIP=1 $(GO) test -count=1 -run "^TestScripts$$" ./mini'
	@echo "lab $(STEP): your work passes its scenarios"

# The OCI runtime-tools validation tests, against mini, runc and crun side by
# side: go install fetches them from the Go module proxy (docs/oci.md).
conformance: build ## run the OCI runtime-tools validation tests against mini, runc and crun (needs root)
	sh scripts/conformance.sh

demo: build rootfs ## run the same command at every step and show what changed
	sh scripts/demo.sh

realworld: build ## a Debian 12 image (debootstrap, cached) at the default step: apt-get install, useradd (needs the network)
	sh scripts/realworld.sh

bench: build rootfs ## time mini at every step against unshare, runc and crun (needs root)
	sh scripts/bench.sh

bench-image: build ## pull and unpack an image of 100 MB against skopeo + umoci; 20 containers sharing it (needs root)
	sh scripts/bench.sh -images -n 5

bench-build: build rootfs ## a Dockerfile built by mini build and by buildah bud; a rebuild from the cache (needs root)
	sh scripts/bench.sh -build -n 5

bench-oci: build rootfs ## mini create+start+delete beside runc and crun on one bundle; ctr run with mini and runc (needs root)
	sh scripts/bench.sh -oci -n 30

vm-test: ## run every test as root inside the Vagrant box (up first if needed), summary per step
	VERSION=$(VERSION) GO=$(GO) sh scripts/vm-test.sh

vm-clean: ## destroy the Vagrant box; the next vagrant up starts afresh
	vagrant destroy -f

clean: ## remove what the build made
	rm -rf bin rootfs/busybox rootfs/busybox.new
