# The two commands of the README: `make demo` runs the main job, `make test` runs the tests.
# Each bootstraps .venv from requirements-dev.lock first (quick and silent once done); `make test`
# also installs the system programs the tests need (bin/test-deps: chromium, as root with apt-get).
VENV := .venv
PY := $(VENV)/bin/python
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: bootstrap test-deps demo test test-unit lint bench lock

bootstrap:
	@bin/bootstrap

test-deps:
	@bin/test-deps

demo: bootstrap
	$(VENV)/bin/clickpipe demo

test: bootstrap test-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "unit or integration or e2e"

test-unit: bootstrap
	$(PY) -m pytest -m unit

lint: bootstrap
	$(VENV)/bin/ruff check .

bench: bootstrap
	$(PY) -m benchmarks.pipeline_bench

# Re-resolve the pinned stack after editing pyproject.toml dependencies: the runtime pins (the
# image installs them), then the same pins plus the dev extras (what .venv installs).
lock: bootstrap
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.10 --no-header -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.10 --no-header \
		-c requirements.lock -o requirements-dev.lock
