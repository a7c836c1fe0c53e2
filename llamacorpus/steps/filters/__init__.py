"""Filters: score a document, then keep it or drop it with a reason (language, perplexity,
the Wikipedia-reference classifier, code heuristics, licences, length)."""
