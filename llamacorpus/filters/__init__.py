"""Reusable steps: dedup, language ID, perplexity, classifiers, heuristics."""
