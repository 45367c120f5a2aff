# Jardinier. `make help` lists the targets.
#
# The servers the tests and `make dev` run (Temporal development server,
# MinIO) are built from source at pinned versions into bin/, once.

TEMPORAL_CLI_VERSION  := v1.5.1
MINIO_VERSION         := v0.0.0-20260212201848-7aac2a2c5b7c
WORKFLOWCHECK_VERSION := v0.6.0
SEAWEEDFS_VERSION     := v0.0.0-20261109003541-7506e5f91cd6

GO        ?= go
TESTFLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN { FS = ":.*## " } \
		/^##@/ { printf "\n%s\n", substr($$0, 5) } \
		/^[a-zA-Z0-9_.\/-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Tools
# Each binary depends on a stamp file named after its version: changing the
# version, or deleting the binary, rebuilds it. go install leaves an unchanged
# binary untouched, hence the touch.

.PHONY: tools
tools: bin/temporal bin/minio ## Build the pinned Temporal CLI and MinIO server into bin/ (takes minutes the first time).

bin/temporal: bin/.temporal-$(TEMPORAL_CLI_VERSION)
	GOBIN=$(CURDIR)/bin $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)
	@touch $@

bin/minio: bin/.minio-$(MINIO_VERSION)
	GOBIN=$(CURDIR)/bin $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

# SeaweedFS, for the storage and backup tests against its S3 gateway (skipped
# without it). Its go.mod has replace directives, which go install refuses: it is
# built from the module's own directory, fetched from the module proxy.
bin/weed: bin/.weed-$(SEAWEEDFS_VERSION)
	cd $$(mktemp -d) && $(GO) mod download github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION)
	cd $$($(GO) env GOMODCACHE)/github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) && \
		$(GO) build -o $(CURDIR)/bin/weed ./weed
	@touch $@

bin/.weed-%:
	@mkdir -p bin
	@rm -f bin/.weed-*
	@touch $@

bin/.temporal-%:
	@mkdir -p bin
	@rm -f bin/.temporal-*
	@touch $@

bin/.minio-%:
	@mkdir -p bin
	@rm -f bin/.minio-*
	@touch $@

# axe-core, which the browser tests inject into the pages, comes from npm at the
# version package-lock.json pins.
.PHONY: browser-deps
browser-deps: api/browsertest/node_modules/.package-lock.json

api/browsertest/node_modules/.package-lock.json: api/browsertest/package.json api/browsertest/package-lock.json
	npm ci --prefix api/browsertest --no-audit --no-fund

##@ Development

.PHONY: build
build: ## Build bin/jardinier.
	$(GO) build -o bin/jardinier .

.PHONY: dev
dev: build tools ## Run Jardinier here, starting the servers not found running (PostgreSQL, Temporal, MinIO).
	bin/jardinier dev

# PACKAGES narrows `make test` down, e.g. PACKAGES=./workflows/...
PACKAGES ?= ./...

.PHONY: test
test: tools browser-deps ## Run every test against real servers; pass more flags with TESTFLAGS=..., fewer packages with PACKAGES=...
	$(GO) test -count=1 -timeout 60m $(TESTFLAGS) $(PACKAGES)

.PHONY: lint
lint: ## Run go vet and check that workflow code is deterministic.
	$(GO) vet ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION) ./workflows/...

.PHONY: clean
clean: ## Remove build and coverage output (keeps the tools in bin/ and the dev data).
	rm -f bin/jardinier coverage.out coverage.html *.test

.PHONY: clean-dev
clean-dev: ## Delete the local servers' data in .dev/ (workflows, buckets).
	rm -rf .dev

##@ Benchmarks
# SPACES sets the size of a run; each benchmark has its own default.

SPACES ?=

.PHONY: bench-provision
bench-provision: build tools ## Submit and accept SPACES applications (default 1000) through the API and report.
	bin/jardinier bench-provision --spaces $(or $(SPACES),1000)

.PHONY: bench-idle
bench-idle: build tools ## Bring SPACES active spaces (default 10000) under watch on the dev server and report.
	bin/jardinier bench-idle --spaces $(or $(SPACES),10000)

CONCURRENCY ?=
OCC ?=
CRON ?=
INTERVAL ?=

.PHONY: bench-quota
bench-quota: ## Share one space's quota out over and over on Nextcloud's tables, as the rebalance does for each space, and report.
	$(GO) test ./activities/nextcloud/ -run '^$$' -bench BenchmarkShareQuota -benchtime 10s

.PHONY: bench-stats
bench-stats: ## Make the yearly statistics over 100,000 records and 10,000 spaces on the local PostgreSQL, and report the time.
	go test ./models/ -run '^$$' -bench BenchmarkYearlyStats -benchtime 20x

.PHONY: bench-upgrade
bench-upgrade: build tools ## Upgrade SPACES simulated spaces (200), CONCURRENCY at once (20), each occ upgrade taking OCC (2s), and report.
	bin/jardinier bench-upgrade --spaces $(or $(SPACES),200) --concurrency $(or $(CONCURRENCY),20) --occ $(or $(OCC),2s)

.PHONY: bench-backup
bench-backup: build tools ## Back up SPACES simulated spaces (200), dumps of SIZE bytes (20 MiB), CONCURRENCY at once (4), and report spaces per hour and a night of 10,000.
	bin/jardinier bench-backup --spaces $(or $(SPACES),200) --size $(or $(SIZE),20971520) --concurrency $(or $(CONCURRENCY),4)

.PHONY: bench-cron
bench-cron: build ## Run the background jobs of SPACES simulated spaces (10000) every INTERVAL (5m), CONCURRENCY at once (64), each run taking CRON (2s), and report.
	bin/jardinier bench-cron --spaces $(or $(SPACES),10000) --interval $(or $(INTERVAL),5m) --concurrency $(or $(CONCURRENCY),64) --cron $(or $(CRON),2s)
