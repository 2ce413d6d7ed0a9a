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

# Three pytest processes side by side, so both cores work while most tests wait on real
# processes (workers, beat, brokers): the fault suite, the property tests (CPU) and the
# conformance apps in one; the integration tests in another; the window's tests and the unit
# tests in the main one. Each must pass; "no tests collected" (exit 5) fails too. The side
# runs' output follows the main one's.
SIDE_TESTS := tests/faults tests/properties tests/conformance
SECOND_TESTS := tests/integration
test: lint
	@rm -f .pytest-side.log .pytest-second.log
	@QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -p no:cacheprovider $(SIDE_TESTS) \
		> .pytest-side.log 2>&1 & side=$$!; \
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -p no:cacheprovider $(SECOND_TESTS) \
		> .pytest-second.log 2>&1 & second=$$!; \
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest \
		$(addprefix --ignore=,$(SIDE_TESTS) $(SECOND_TESTS)); \
	main=$$?; wait $$side; side_rc=$$?; wait $$second; second_rc=$$?; \
	echo "======== $(SIDE_TESTS), run beside the rest ========"; cat .pytest-side.log; \
	echo "======== $(SECOND_TESTS), run beside the rest ========"; cat .pytest-second.log; \
	echo "pytest exit codes: main $$main, $(SIDE_TESTS) $$side_rc, $(SECOND_TESTS) $$second_rc"; \
	test $$main -eq 0 && test $$side_rc -eq 0 && test $$second_rc -eq 0

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'

screenshots: $(VENV)/.installed-test
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
