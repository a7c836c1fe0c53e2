# llamacorpus: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LC := $(PY) -m llamacorpus
OUT ?= out
RECIPE ?= llama1
# Beam's local Python runner on both cores (never the Prism runner Beam would download).
BEAM_LOCAL := --direct_running_mode multi_processing --direct_num_workers 2
# The bundled sample is tiny: the Wikipedia-reference classifier needs more fastText epochs than
# RedPajama's defaults (epoch 5, lr 0.1, set for ~300K reference pages) to learn from ~100 pages.
DEMO_SET := --set sources.commoncrawl.classifier.epoch=50 --set sources.commoncrawl.classifier.lr=0.5
TRAIN_PRESET ?= small

.PHONY: install system-deps kenlm-tools demo test bench clean

# A virtual environment with the package and every extra: dataflow (Google Cloud), train (torch),
# test (fasttext and kenlm compile: ~4.5 min). torch goes in first, on its own, so that the
# package's pin finds it installed and pip never swaps in another build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dataflow,train,test]'
	touch $@

install: $(VENV)/.installed

# Debian packages for KenLM's lmplz/build_binary (installed only when missing).
system-deps:
	scripts/install_system_deps.sh

kenlm-tools: system-deps install
	PYTHON=$(PY) scripts/build_kenlm_tools.sh

# The main job on the bundled sample data, end to end on Beam's local runner:
#  1. Wikipedia documents (the perplexity models learn from them)
#  2. CCNet's per-language SentencePiece + KenLM 5-gram for English (train-lm)
#  3. all seven sources -> cleaned documents -> mixture -> tokenizer -> Megatron shards, stats, report
#  4. the bundled small LLaMA trained on those shards (loss curve summary at the end)
demo: install kenlm-tools
	$(PY) beam_main.py --recipe $(RECIPE) --output $(OUT) --sources wikipedia --stages documents --no_report $(BEAM_LOCAL)
	$(LC) train-lm --output $(OUT) --language en
	$(PY) beam_main.py --recipe $(RECIPE) --output $(OUT) $(DEMO_SET) $(BEAM_LOCAL)
	$(LC) validate-shards $(OUT)/shards
	$(LC) train --shards $(OUT)/shards --preset $(TRAIN_PRESET)

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(OUT) .pytest_cache
