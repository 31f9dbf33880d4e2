# chainloop-plugin-oci-registry — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := dist/chainloop-plugin-oci-registry
SOURCES := $(shell find src -name '*.ts' 2>/dev/null) package.json scripts/build.js
JEST := node_modules/.bin/jest

.PHONY: help deps system-deps generate check-generated build lint typecheck test test-unit \
        test-integration test-interop demo docs check-docs bench bench-smoke clean

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

$(BIN): node_modules/.installed $(SOURCES)
	node scripts/build.js

build: $(BIN) ## Build the one-file executable dist/chainloop-plugin-oci-registry

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

test: system-deps deps check-generated lint check-docs build ## Install what the tests need, then run every suite
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
