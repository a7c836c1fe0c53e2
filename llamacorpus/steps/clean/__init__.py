"""Mappers that turn markup into text: HTML, wikitext, LaTeX, licence headers."""
