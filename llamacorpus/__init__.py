"""llamacorpus: build the LLaMA-1 pretraining corpus from raw public dumps with Apache Beam."""

__version__ = "0.1.0"
