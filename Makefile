# Two commands a newcomer needs: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPOKE_USER ?= demo

.PHONY: run test lint fmt bench migration check-migrations clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/spoke db upgrade
	$(BIN)/spoke demo seed
	$(BIN)/spoke chat --as $(SPOKE_USER)

# With a PostgreSQL server at hand (bash .ci/run starts one), the tests written for the suite's
# engine run a second time on it; the engine tests already ran on both.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q
	@if [ -n "$$SPOKE_TEST_POSTGRES_URL" ]; then \
		echo "== again on PostgreSQL: the tests on the suite's engine"; \
		SPOKE_TEST_ENGINE=postgresql $(BIN)/python -m pytest -q -m suite_engine; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check assistant dialogs storage adapters tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m storage.check_migrations

fmt: $(STAMP)
	$(BIN)/ruff check --fix assistant dialogs storage adapters tests bench

bench: $(STAMP)
	$(BIN)/python bench/turns.py
	$(BIN)/python bench/slack.py
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/follow_ups.py
	# the stock CloudAdapter baseline of bench/teams.py lives in this package alone
	$(BIN)/python -m pip install --quiet "botbuilder-integration-aiohttp==4.17.1"
	$(BIN)/python bench/teams.py
	$(BIN)/python bench/load.py

migration: $(STAMP)
	@test -n "$(m)" || (echo 'usage: make migration m="what changed"' && exit 2)
	$(BIN)/python -m storage.new_migration "$(m)"

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
