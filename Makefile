# Two entry points, each creating .venv on first use: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: venv demo test clean

$(BIN)/winnow: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned to 2.13.0 in pyproject.toml; pip takes the local CPU wheel where one is provided.
	$(BIN)/pip install -q -e '.[dev]'
	# megatron-core's own reader checks our shards in the tests; --no-deps keeps it from touching torch. A failed
	# install stops here (CI fails loudly rather than skipping that check), and so does a reader that cannot import.
	$(BIN)/pip install -q --no-deps 'megatron-core>=0.16,<0.17'
	$(BIN)/python -W ignore -c 'import megatron.core.datasets.indexed_dataset' \
	  || { echo "megatron-core installed but its reader (megatron.core.datasets.indexed_dataset) does not import"; exit 1; }
	@touch $@

venv: $(BIN)/winnow

demo: venv
	$(BIN)/winnow run

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900 --durations=15

clean:
	rm -rf out .cache .pytest_cache
