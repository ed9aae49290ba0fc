# usermap: `make test` and `make demo` are the two commands a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name usermap --display-name "usermap" >/dev/null
	touch $(STAMP)

install: $(STAMP)

# Bytecode caches on (some machines set PYTHONDONTWRITEBYTECODE): the suite starts hundreds of
# Python processes, and each would compile usermap and the tests' rewritten asserts again. Files
# go to the workers in the order tests/conftest.py gives (longest first), not by their number of
# tests; nbval runs in its own pytest (tests/commands/test_notebooks.py), so the workers skip it.
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder -p no:nbval

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo runs .pytest_cache
