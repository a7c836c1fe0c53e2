"""Global steps that remove copies: URLs, lines (CCNet), exact files, near-duplicate books,
revisions of one page."""
