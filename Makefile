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
	# megatron-core's own reader checks our shards in the tests; --no-deps keeps it from touching torch.
	$(BIN)/pip install -q --no-deps 'megatron-core>=0.16,<0.17' || echo "megatron-core unavailable: its reader test will skip"
	@touch $@

venv: $(BIN)/winnow

demo: venv
	$(BIN)/winnow run

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900 --durations=15

clean:
	rm -rf out .cache .pytest_cache
