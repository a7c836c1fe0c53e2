# llamacorpus: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out
BEAM_LOCAL := --direct_running_mode multi_processing --direct_num_workers 2

.PHONY: install demo test bench clean

# A virtual environment with the package and its test extras (fasttext and kenlm compile: ~4.5 min).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The main job on the bundled sample data, on Beam's local (Python) runner.
demo: install
	$(PY) beam_main.py --recipe recipes/llama1.yaml --output $(OUT) $(BEAM_LOCAL)

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(OUT) .pytest_cache
