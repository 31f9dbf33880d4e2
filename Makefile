# chainloop-plugin-oci-registry — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NAME := chainloop-plugin-oci-registry
BIN := dist/$(NAME)
BUNDLE := dist/$(NAME).js
VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null)
# Debian's name for this machine's architecture: the SEA that `make build` writes.
NATIVE_ARCH := $(shell node -p "({x64:'amd64',arm64:'arm64'})[process.arch]" 2>/dev/null)
SOURCES := $(shell find src -name '*.ts' 2>/dev/null) package.json scripts/build.js
SEA_SCRIPTS := package.json scripts/sea-common.js scripts/fetch-runtime.js scripts/build-sea.js $(wildcard scripts/sea/*.js)
TARBALLS := $(foreach a,amd64 arm64,dist/$(NAME)-$(VERSION)-linux-$(a).tar.gz)
# Built through pattern rules, but deliverables: make must not delete them as intermediates.
.SECONDARY: $(foreach a,amd64 arm64,dist/linux-$(a)/$(NAME))
JEST := node_modules/.bin/jest

.PHONY: help deps system-deps generate check-generated build dist lint typecheck test test-unit \
        test-integration test-interop test-scratch-root demo docs check-docs bench bench-smoke clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed ## Install npm dependencies (npm ci)

system-deps: ## Install the Debian packages the tests use (registry, skopeo, Go host toolchain)
	bash scripts/install-system-deps.sh

generate: deps ## Regenerate src/gen from proto/, schemas/ and package.json
	rm -rf src/gen && mkdir -p src/gen
	node_modules/.bin/buf generate
	node scripts/gen-descriptors.js
	node scripts/gen-embedded.js
	node scripts/gen-validators.js

check-generated: generate ## Fail when the committed src/gen differs from what `make generate` writes
	@git diff --quiet --exit-code -- src/gen && [ -z "$$(git ls-files --others --exclude-standard src/gen)" ] \
	  || { echo 'src/gen is stale: run `make generate` and commit the result' >&2; git status --short src/gen >&2; exit 1; }

$(BUNDLE): node_modules/.installed $(SOURCES)
	node scripts/build.js

# A Node.js single executable (SEA) per architecture, with the runtime pinned in package.json.
dist/linux-%/$(NAME): $(BUNDLE) $(SEA_SCRIPTS)
	node scripts/build-sea.js $*

$(BIN): dist/linux-$(NATIVE_ARCH)/$(NAME)
	ln -f $< $@

# The image overlays: extracted at / of Chainloop's FROM-scratch image.
dist/$(NAME)-$(VERSION)-linux-%.tar.gz: dist/linux-%/$(NAME) scripts/build-overlay.js
	node scripts/build-overlay.js $*

dist/SHA256SUMS: $(BUNDLE) $(TARBALLS) scripts/checksums.js
	node scripts/checksums.js

build: $(BIN) ## Build dist/chainloop-plugin-oci-registry (self-contained executable) and its .js bundle

dist: build $(TARBALLS) dist/SHA256SUMS ## Also the amd64/arm64 executables, image-overlay tarballs and SHA256SUMS

typecheck: deps
	node_modules/.bin/tsc --noEmit -p .

lint: deps typecheck ## buf lint and the TypeScript type check
	node_modules/.bin/buf lint

docs: deps ## Regenerate the README schema sections from schemas/
	node scripts/gen-docs.js

check-docs: deps
	node scripts/gen-docs.js --check

test-unit: deps
	$(JEST) --ci test/unit

test-integration: build
	$(JEST) --ci --runInBand test/integration

test-interop: build
	bash test/interop/gohost/run.sh

test-scratch-root: dist ## The amd64 overlay in a read-only scratch root, as uid 1001 (needs root)
	$(JEST) --ci --runInBand test/scratch-root

test: system-deps deps check-generated lint check-docs dist ## Install what the tests need, then run every suite
	$(JEST) --ci --runInBand
	bash test/interop/gohost/run.sh
	$(MAKE) bench-smoke

demo: deps build ## Push a sample attestation to a local registry, as Chainloop would
	bash scripts/demo.sh

bench: build ## Benchmarks: ratios against baselines measured in the same run
	node scripts/run-ts.js bench/run.ts

bench-smoke: build
	node scripts/run-ts.js bench/run.ts --smoke

clean: ## Remove build output
	rm -rf dist coverage .tmp
