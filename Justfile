# Bijmantra developer commands. `pip install uv rust-just` is all a fresh machine needs.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Every package mypy checks (a new distribution is added here).
MYPY_PACKAGES := "-p bijmantra.kernel -p bijmantra.domain -p bijmantra.application -p bijmantra.genomics -p bijmantra.observability -p bijmantra.edge -p bijmantra.adapters.postgres -p bijmantra.adapters.nats -p bijmantra.adapters.redis -p bijmantra.adapters.grpc -p bijmantra.adapters.email -p bijmantra.testkit -p bijmantra.devstack -p bijmantra.gateway -p bijmantra.identity -p bijmantra.domain_api -p bijmantra.analytics_worker"

# Install every workspace member (and build the Cython extension) from uv.lock.
sync:
    uv sync --frozen --all-packages

# Start the whole platform locally: PostgreSQL, NATS, Redis, migrations, demo data, four services.
up: sync
    uv run --frozen bijmantra up

# Print a fresh access token for the demo user (while `just up` runs).
token:
    @uv run --frozen --no-sync bijmantra token

# The whole test suite: import contracts, then every test (real servers start once per session).
test: sync browser-deps lint
    uv run --frozen --no-sync pytest -q

# Debian's chromium for tests/browser (never Playwright's download); without it they fail, never skip.
browser-deps:
    #!/usr/bin/env bash
    set -uo pipefail
    [ -x /usr/bin/chromium ] && exit 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) \
            || echo "warning: apt-get could not install chromium; tests/browser will fail" >&2
    else
        echo "warning: run 'apt-get install chromium' as root; tests/browser will fail without it" >&2
    fi

# Regenerate packages/contracts from proto/ (committed; a test fails when stale).
proto:
    uv run --frozen python proto/generate.py

# Rebuild the published contract (BrAPI cut, then api-contracts/openapi.json); ADR 0230.
openapi:
    uv run --frozen python -m bijmantra.gateway.contract.brapi_paths
    uv run --frozen python -m bijmantra.gateway.write_contract

# ruff, the format check, mypy (strict on kernel, domain, application; every other package
# too) and the import contracts: all with zero findings, before any test runs.
lint:
    uv run --frozen --no-sync ruff check .
    uv run --frozen --no-sync ruff format --check .
    uv run --frozen --no-sync mypy {{MYPY_PACKAGES}}
    uv run --frozen --no-sync lint-imports

# Benchmarks: JSON results under bench/results/.
bench: sync
    uv run --frozen --no-sync python -m bench.run

migrate:
    uv run --frozen bijmantra-migrate
