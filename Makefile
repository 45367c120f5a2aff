# Jardinier. `make help` lists the targets.
#
# The servers the tests and `make dev` run (Temporal development server,
# MinIO) are built from source at pinned versions into bin/, once.

TEMPORAL_CLI_VERSION  := v1.5.1
MINIO_VERSION         := v0.0.0-20260212201848-7aac2a2c5b7c
WORKFLOWCHECK_VERSION := v0.6.0
# The Temporal server of `make cluster`: the version the pinned CLI embeds (its
# go.mod), compatible with the SDK of go.mod; the web UI likewise.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_UI_VERSION     := v2.42.1
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

# The cluster's Temporal server, its schema tool and its web UI. go install names
# a binary after its package (server, sql), hence the build directory and the mv.
.PHONY: cluster-tools
cluster-tools: bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server ## Build the pinned Temporal server, temporal-sql-tool and web UI into bin/ (takes many minutes the first time).

bin/temporal-server: bin/.tserver-$(TEMPORAL_SERVER_VERSION)
	GOBIN=$(CURDIR)/bin/.build-server $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)
	mv bin/.build-server/server $@

bin/temporal-sql-tool: bin/.tsqltool-$(TEMPORAL_SERVER_VERSION)
	GOBIN=$(CURDIR)/bin/.build-sqltool $(GO) install go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv bin/.build-sqltool/sql $@

bin/temporal-ui-server: bin/.tui-$(TEMPORAL_UI_VERSION)
	GOBIN=$(CURDIR)/bin/.build-ui $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv bin/.build-ui/server $@

bin/.tserver-%:
	@mkdir -p bin
	@rm -f bin/.tserver-*
	@touch $@

bin/.tsqltool-%:
	@mkdir -p bin
	@rm -f bin/.tsqltool-*
	@touch $@

bin/.tui-%:
	@mkdir -p bin
	@rm -f bin/.tui-*
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

.PHONY: cluster
cluster: build tools cluster-tools ## Run Jardinier here on a real Temporal cluster: the Temporal server on PostgreSQL, WORKERS workers (2), APIS API instances (2), cron.
	bin/jardinier cluster --workers $(or $(WORKERS),2) --apis $(or $(APIS),2)

.PHONY: dev
dev: build tools ## Run Jardinier here, starting the servers not found running (PostgreSQL, Temporal, MinIO).
	bin/jardinier dev

# PACKAGES narrows `make test` down, e.g. PACKAGES=./workflows/...
PACKAGES ?= ./...

.PHONY: test
test: tools bin/temporal-server bin/temporal-sql-tool browser-deps ## Run every test against real servers; pass more flags with TESTFLAGS=..., fewer packages with PACKAGES=...
	$(GO) test -count=1 -timeout 60m $(TESTFLAGS) $(PACKAGES)
	$(if $(filter ./... ./api ./api/ jardinier/api,$(PACKAGES)),@$(MAKE) --no-print-directory fuzz)

# The fuzz targets of the API's forms and JSON requests. `make test` runs their
# corpus (api/testdata/fuzz) with the other tests and, when the packages include
# api, searches each one for FUZZTIME more; an input that fails is written to the
# corpus, to commit once fixed. FUZZTIME counts inputs (Nx) rather than seconds: Go
# 1.26's fuzzer can report its own deadline as a failure when a busy machine leaves a
# worker mid-input as the time runs out (go.dev/issue/75804).
FUZZ_TARGETS := FuzzApplicationForm FuzzApplicationJSON FuzzJSONRequests FuzzSpaceForm
FUZZTIME     ?= 2000x

.PHONY: fuzz
fuzz: ## Search each fuzz target of the API for FUZZTIME inputs (2000x; 60s for a time); needs PostgreSQL like the tests.
	@for target in $(FUZZ_TARGETS); do \
		echo "fuzz: $$target for $(FUZZTIME)"; \
		$(GO) test ./api -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -parallel 2 || exit 1; \
	done

.PHONY: lint
lint: lint-alerts ## Run go vet, check that workflow code is deterministic, and check the alert rules, the dashboard and the deployment files of deploy/.
	$(GO) vet ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION) ./workflows/...
	$(MAKE) lint-deploy

# The Kubernetes manifests decode strictly against the API types (a module of its own,
# deploy/kubernetes); the systemd units pass systemd-analyze verify; the image builds.
# A missing tool skips its check with a message.
.PHONY: lint-deploy
lint-deploy: build
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...
	@if command -v kubectl >/dev/null; then \
		echo "kubectl kustomize deploy/kubernetes/base"; kubectl kustomize deploy/kubernetes/base >/dev/null; \
	else echo "lint: kubectl not found: the kustomize base is decoded file by file only"; fi
	@if command -v systemd-analyze >/dev/null; then \
		echo "systemd-analyze verify deploy/systemd/*.service"; \
		tmp=$$(mktemp -d); \
		for f in deploy/systemd/*.service; do sed "s#/usr/local/bin/jardinier#$(CURDIR)/bin/jardinier#" $$f > $$tmp/$${f##*/}; done; \
		out=$$(systemd-analyze verify $$tmp/*.service 2>&1); rc=$$?; rm -rf $$tmp; \
		if [ $$rc -ne 0 ] || [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	else echo "lint: systemd-analyze not found (Debian package systemd): the units of deploy/systemd are not checked"; fi
	@if docker info >/dev/null 2>&1; then \
		echo "docker build -f deploy/docker/Dockerfile ."; docker build -q -f deploy/docker/Dockerfile -t jardinier:lint . >/dev/null; \
	elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then \
		echo "podman build -f deploy/docker/Dockerfile ."; podman build -q -f deploy/docker/Dockerfile -t jardinier:lint . >/dev/null; \
	else echo "lint: no container engine answers (docker info, podman info): deploy/docker/Dockerfile is not built"; fi

.PHONY: chaos
chaos: tools bin/temporal-server bin/temporal-sql-tool ## On the real cluster, provision 60 spaces, delete 20 and upgrade the others while killing workers (30 kills or more) and the Temporal server once; prints the line.
	CHAOS=long $(GO) test ./deploy/e2e/ -run '^TestChaosOnCluster$$' -count=1 -timeout 60m

# The alert rules and the dashboard, loaded by Prometheus' own parsers; a module of its
# own (deploy/prometheus/check) keeps Prometheus out of Jardinier's dependencies.
.PHONY: lint-alerts
lint-alerts:
	cd deploy/prometheus/check && $(GO) vet ./... && $(GO) test -count=1 ./... && \
		$(GO) run . -rules ../alerts.yml -dashboard ../../grafana/jardinier.json

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
bench-provision: build tools $(if $(CLUSTER),cluster-tools) ## Submit and accept SPACES applications (default 1000) through the API and report; CLUSTER=1 on the real Temporal server.
	bin/jardinier bench-provision --spaces $(or $(SPACES),1000) $(if $(CLUSTER),--cluster)

.PHONY: bench-idle
bench-idle: build tools $(if $(CLUSTER),cluster-tools) ## Bring SPACES active spaces (default 10000) under watch on the dev server and report; CLUSTER=1 on the real Temporal server.
	bin/jardinier bench-idle --spaces $(or $(SPACES),10000) $(if $(CLUSTER),--cluster)

CONCURRENCY ?=
OCC ?=
MAILS ?=
RATE ?=
CRON ?=
INTERVAL ?=

.PHONY: bench-quota
bench-quota: ## Share one space's quota out over and over on Nextcloud's tables, as the rebalance does for each space, and report.
	$(GO) test ./activities/nextcloud/ -run '^$$' -bench BenchmarkShareQuota -benchtime 10s

.PHONY: bench-stats
bench-stats: ## Make the yearly statistics over 100,000 records and 10,000 spaces on the local PostgreSQL, and report the time.
	go test ./models/ -run '^$$' -bench BenchmarkYearlyStats -benchtime 20x

.PHONY: bench-upgrade
bench-upgrade: build tools $(if $(CLUSTER),cluster-tools) ## Upgrade SPACES simulated spaces (200), CONCURRENCY at once (20), each occ upgrade taking OCC (2s), and report; CLUSTER=1 on the real Temporal server, PROFILE=dir for the worker's profiles.
	bin/jardinier bench-upgrade --spaces $(or $(SPACES),200) --concurrency $(or $(CONCURRENCY),20) --occ $(or $(OCC),2s) $(if $(CLUSTER),--cluster) $(if $(PROFILE),--profile $(PROFILE))

.PHONY: bench-backup
bench-backup: build tools ## Back up SPACES simulated spaces (200), dumps of SIZE bytes (20 MiB), CONCURRENCY at once (4), and report spaces per hour and a night of 10,000.
	bin/jardinier bench-backup --spaces $(or $(SPACES),200) --size $(or $(SIZE),20971520) --concurrency $(or $(CONCURRENCY),4)

.PHONY: bench-cron
bench-cron: build ## Run the background jobs of SPACES simulated spaces (10000) every INTERVAL (5m), CONCURRENCY at once (64), each run taking CRON (2s), and report.
	bin/jardinier bench-cron --spaces $(or $(SPACES),10000) --interval $(or $(INTERVAL),5m) --concurrency $(or $(CONCURRENCY),64) --cron $(or $(CRON),2s)

.PHONY: bench-api
bench-api: build tools ## Fill a database with APPLICATIONS applications (100000) and SPACES spaces in service (10000), and time the moderators' screens under CLIENTS clients (8).
	bin/jardinier bench-api --applications $(or $(APPLICATIONS),100000) --spaces $(or $(SPACES),10000) --clients $(or $(CLIENTS),8) --requests $(or $(REQUESTS),200)

.PHONY: bench-mail
bench-mail: build tools ## Send an announcement to MAILS people (10000) at MAIL_RATE=RATE (50) with confirmation links asked for meanwhile, and report.
	bin/jardinier bench-mail --mails $(or $(MAILS),10000) --rate $(or $(RATE),50)
