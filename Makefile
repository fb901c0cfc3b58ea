# ageverify — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
NPM    ?= npm

.PHONY: run test bench demo story screenshots lint clean

$(BIN)/ageverify: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

## Set up, create a development instance (SQLite, generated keys), serve on http://$(HOST):$(PORT)
run: $(BIN)/ageverify
	$(BIN)/ageverify init --dev
	AGEVERIFY_ENV=development $(BIN)/ageverify serve --host $(HOST) --port $(PORT)

# privacypass-ts for the interop tests, as locked. Without npm they skip locally
# (and fail under CI=true, where .ci/run installs them first).
interop/node_modules: interop/package-lock.json
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(NPM) ci --prefix interop --no-audit --no-fund && touch $@; \
	else \
		echo "npm not found: skipping interop/node_modules (the privacypass-ts interop tests will skip)"; \
	fi

## Set up and run the whole test suite
test: $(BIN)/ageverify interop/node_modules
	$(BIN)/python -m pytest

## Try it in a browser: issuer + wallet :8000, demo verifier :8100, chat sites :8101 and :8102
demo: $(BIN)/ageverify
	$(BIN)/python -m examples.run_demo

## Retake the README's screenshots (docs/screenshots/) from the running demo
screenshots: $(BIN)/ageverify
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/e2e/test_screenshots.py

## The story from attestation to refused replay, printed step by step
story: $(BIN)/ageverify
	$(BIN)/ageverify demo

## Benchmarks: ratios against the raw cryptography floor, measured in the same run;
## the load benchmark (gunicorn under wrk, SQLite and PostgreSQL) needs wrk (apt-get install wrk)
bench: $(BIN)/ageverify
	$(BIN)/python -m benchmarks.credentials
	$(BIN)/python -m benchmarks.blindrsa
	$(BIN)/python -m benchmarks.merkle
	$(BIN)/python -m benchmarks.counts || test $$? -eq 2  # 2: no PostgreSQL here, nothing measured
	@if command -v wrk >/dev/null 2>&1; then \
		$(BIN)/python -m benchmarks.load; \
	else \
		echo "wrk not found: skipping the load benchmark (apt-get install wrk)"; \
	fi

lint: $(BIN)/ageverify
	$(BIN)/ruff check ageverify tests benchmarks examples

clean:
	rm -rf $(VENV) instance .pytest_cache interop/node_modules
