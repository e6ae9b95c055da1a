# `make demo` and `make test` each do the whole set-up first (idempotent, offline).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean
setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/birdkit demo $(ARGS)

test: setup
	$(BIN)/python -m pytest -q --durations=15 $(ARGS)

bench: setup
	$(BIN)/python benchmarks/corruptions_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
