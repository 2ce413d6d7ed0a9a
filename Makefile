# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTEST_QT_API := pyside6

.PHONY: run test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/celery-desk

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two pytest processes side by side: the fault suite (mostly waiting on real processes) and the
# property tests (CPU) beside everything else, so both cores work. Each must pass; "no tests
# collected" (exit 5) fails too. The side run's output follows the main one's.
SIDE_TESTS := tests/faults tests/properties
test: lint
	@rm -f .pytest-side.log
	@QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -p no:cacheprovider $(SIDE_TESTS) \
		> .pytest-side.log 2>&1 & side=$$!; \
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(addprefix --ignore=,$(SIDE_TESTS)); \
	main=$$?; wait $$side; side_rc=$$?; \
	echo "======== $(SIDE_TESTS), run beside the rest ========"; cat .pytest-side.log; \
	echo "pytest exit codes: main $$main, $(SIDE_TESTS) $$side_rc"; \
	test $$main -eq 0 && test $$side_rc -eq 0

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'

screenshots: $(VENV)/.installed-test
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
