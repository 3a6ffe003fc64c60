# deepprobe: see README.md. `make run` starts the simulators and deepprobe; `make test` runs
# every test (those whose tool is missing skip, and the summary at the end says which and why).
GO ?= go
# The version and commit every binary and image carries (`deepprobe version`, the start-up log
# line, deepprobe_build_info): set by the linker, here and in the Dockerfile's build stage.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/deepprobe/deepprobe/cli.Version=$(VERSION) -X github.com/deepprobe/deepprobe/cli.Commit=$(COMMIT)
IMAGE ?= deepprobe
DIST := dist
BIN := bin
LISTEN ?= 127.0.0.1:8889

.PHONY: build test test-short run vet fmt-check bench bench-quick release image prometheus-rules kube-prometheus clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

# The integration tests build the binaries themselves (into a temporary dir; the compose test
# runs `make build`, so bin/ stays stamped). testsummary prints what plain go test prints, then
# every skipped test and why, and exits with go test's status.
test: fmt-check vet
	@docker info >/dev/null 2>&1 && command -v docker-compose >/dev/null || \
	  echo "*** WARNING: no Docker engine or docker-compose: TestDockerCompose will be SKIPPED ***"
	$(GO) run ./integration/cmd/testsummary $(GO) test -race -count=1 -timeout 20m -json ./...

test-short:
	$(GO) test -count=1 -short ./...

# Runs workersim (the Garden and Baggageclaim simulators) and deepprobe in the foreground;
# Ctrl-C stops both. The simulators listen on free ports (workersim on :0 logs one ready line
# with every address) and deepprobe is pointed at exactly those, never at a default port where a
# real worker's Garden or Baggageclaim may listen; if workersim does not start, run stops with
# its reason. workersim's log goes to a temporary file, removed on exit.
run: build
	@set -e; \
	simlog=$$(mktemp "$${TMPDIR:-/tmp}/deepprobe-run-workersim.XXXXXX"); \
	$(BIN)/workersim --garden-listen 127.0.0.1:0 --baggageclaim-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 2>"$$simlog" & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null; rm -f "$$simlog"' EXIT INT TERM; \
	ready=; for i in $$(seq 100); do \
	  ready=$$(sed -n 's/.*msg="workersim ready" garden=\([^ ]*\) baggageclaim=\([^ ]*\) admin=\([^ ]*\).*/\1 \2 \3/p' "$$simlog"); \
	  if [ -n "$$ready" ] || ! kill -0 $$sim 2>/dev/null; then break; fi; sleep 0.1; \
	done; \
	if [ -z "$$ready" ]; then \
	  echo "make run: workersim did not start; deepprobe was not started:" >&2; cat "$$simlog" >&2; exit 1; \
	fi; \
	set -- $$ready; \
	echo; echo "simulators: Garden $$1, Baggageclaim $$2 (workersim's log: $$simlog)"; \
	echo "deepprobe: http://$(LISTEN)/healthz   (try ?verbose, /livez, /metrics, and / for the status page)"; \
	echo "fault injection: curl -X PUT $$3/garden/faults/create -d '{\"status\":500}'"; echo; \
	$(BIN)/deepprobe serve --listen $(LISTEN) --garden-url "$$1" --baggageclaim-url "$$2"

# Go benchmarks, then the load harness against the built binaries; writes BENCHMARKS.md
# (about 8 minutes on the simulators). Set DEEPPROBE_GARDEN_URL and DEEPPROBE_BAGGAGECLAIM_URL to
# measure against real servers (under 9 minutes: figures of sequential workloads fit a time budget,
# and those that need the simulators' knobs are reported as not taken).
bench: build
	$(GO) test -run XXX -bench . -benchmem -benchtime 2s ./probes/ ./server/ | tee $(BIN)/gobench.txt
	$(GO) run ./integration/cmd/loadbench -bin $(BIN) -gobench $(BIN)/gobench.txt -out BENCHMARKS.md

# The same at a tenth of the counts and times, into bin/ (under 2 minutes on the simulators).
bench-quick: build
	$(GO) test -run XXX -bench . -benchmem -benchtime 200ms ./probes/ ./server/ | tee $(BIN)/gobench.txt
	$(GO) run ./integration/cmd/loadbench -bin $(BIN) -gobench $(BIN)/gobench.txt -scale 0.1 -out $(BIN)/BENCHMARKS-quick.md

# Static deepprobe binaries for the workers' architectures, with their SHA-256 sums.
release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o $(DIST)/deepprobe-$(VERSION)-linux-$$arch ./cmd/deepprobe || exit 1; \
	done
	cd $(DIST) && sha256sum deepprobe-* > SHA256SUMS && cat SHA256SUMS

# The release image, built from source with the same version and commit as `make build`.
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):$(VERSION) .

# The alert rules for a scrape job of another name, for plain Prometheus and as a PrometheusRule
# (PROMRULE_FLAGS: -namespace NS, -label release=NAME for kube-prometheus-stack's ruleSelector).
PROMETHEUS_JOB ?= deepprobe
PROMRULE_FLAGS ?=
prometheus-rules:
	mkdir -p $(BIN)
	$(GO) run ./integration/cmd/promrule -format rules -job '$(PROMETHEUS_JOB)' < deploy/prometheus/deepprobe-rules.yml > $(BIN)/deepprobe-rules.yml
	$(GO) run ./integration/cmd/promrule -format prometheusrule -job '$(PROMETHEUS_JOB)' $(PROMRULE_FLAGS) < deploy/prometheus/deepprobe-rules.yml > $(BIN)/deepprobe-prometheusrule.yaml
	@echo "wrote $(BIN)/deepprobe-rules.yml and $(BIN)/deepprobe-prometheusrule.yaml for job $(PROMETHEUS_JOB)"

# Regenerates the shipped PrometheusRule from the rules file (make test checks that it is current).
kube-prometheus:
	$(GO) run ./integration/cmd/promrule < deploy/prometheus/deepprobe-rules.yml > deploy/kube-prometheus/deepprobe-prometheusrule.yaml

clean:
	rm -rf $(BIN) $(DIST)
