# Two commands work on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/memory-server serve

# Run again on PostgreSQL when MEMORY_SERVER_TEST_POSTGRES names a server (.ci/run starts one): the tests of the
# store and of what writes through it, plus those that need PostgreSQL (skipped in the first run).
POSTGRES_TESTS := tests/store tests/scaleout tests/test_memory.py tests/test_episodes.py tests/test_users.py \
	tests/test_segments.py tests/test_webhooks.py tests/test_consent.py tests/test_search.py tests/test_ingest.py \
	tests/test_durability.py tests/test_ratelimit.py tests/test_profile_cache.py tests/test_llm_extraction.py \
	tests/test_model_outside_lock.py tests/api/test_projects.py tests/cli

test: $(STAMP)
	$(BIN)/ruff check .
	env -u MEMORY_SERVER_TEST_POSTGRES $(BIN)/python -m pytest
	if [ -n "$$MEMORY_SERVER_TEST_POSTGRES" ]; then $(BIN)/python -m pytest $(POSTGRES_TESTS); fi

test-postgres: $(STAMP)
	$(BIN)/python -m pytest $(POSTGRES_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/profile_latency.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
