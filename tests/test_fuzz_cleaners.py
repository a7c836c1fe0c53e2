"""Property-based tests (hypothesis) of the cleaners and of the arXiv reader: random markup and
mutated real fixture inputs. Each test checks that nothing raises (a mapper returns a document, a
Drop or a counted BadInput of a known kind), that the work stays within the budget's bound, that
every input is accounted for, and that no markup of the input survives in the output.

Deterministic (``derandomize=True``: the same examples on every run), bounded (``max_examples``),
no deadline (nothing here depends on timing)."""
import functools
import gzip
import io
import json
import os
import re
import tarfile
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FIXTURES
from llamacorpus.document import make_document
from llamacorpus.sources.arxiv import SOURCE as ARXIV, ArxivConfig, archive_members, read_paper
from llamacorpus.steps import BadInput, Drop, run_steps
from llamacorpus.steps.clean.budget import CleanerBudget, WorkMeter
from llamacorpus.steps.clean.html_text import HtmlToText, render_html
from llamacorpus.steps.clean.latex import LatexCleaner, clean_latex, segments
from llamacorpus.steps.clean.license_header import (StripLicenseHeader, _leading_comments, license_header,
                                                   strip_license_header)
from llamacorpus.steps.clean.wikitext import MARKUP_RESIDUE, WikitextToText, wikitext_to_text
from llamacorpus.steps.filters.code_heuristics import language_of

FUZZ = settings(derandomize=True, max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: work per input character that no input, however built, may exceed (the real fixtures use under 10)
MAX_UNITS_PER_CHAR = 60
BASE = 200_000
TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def bounded_meter(text: str) -> WorkMeter:
    return WorkMeter(MAX_UNITS_PER_CHAR * len(text) + BASE)


def markup(tokens: list[str], max_size: int = 80):
    """Strings glued from markup tokens and a little plain text."""
    word = st.text(alphabet="abcxyz \n", min_size=1, max_size=4)
    return st.lists(st.one_of(st.sampled_from(tokens), word), max_size=max_size).map("".join)


def mutated(texts: list[str], tokens: list[str]):
    """A real text with spans deleted, duplicated or replaced by markup tokens, or cut short."""
    @st.composite
    def build(draw):
        text = draw(st.sampled_from(texts))
        for _ in range(draw(st.integers(1, 6))):
            if not text:
                break
            start = draw(st.integers(0, len(text) - 1))
            end = min(len(text), start + draw(st.integers(0, 400)))
            action = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate"]))
            if action == "delete":
                text = text[:start] + text[end:]
            elif action == "duplicate":
                text = text[:end] + text[start:end] * draw(st.integers(1, 5)) + text[end:]
            elif action == "insert":
                text = text[:start] + draw(st.sampled_from(tokens)) * draw(st.integers(1, 30)) + text[start:]
            else:
                text = text[:start]
        return text
    return build()


def assert_mapper_outcome(step, doc, error_kinds):
    out = step.map(doc)
    assert isinstance(out, (dict, Drop, BadInput)), out
    if isinstance(out, BadInput):
        assert out.kind in error_kinds, out
        assert out.doc_id == doc["id"] and out.location
    report = run_steps([step], [doc])
    counts = report.counts[step.name]
    assert counts["in"] == 1 == sum(n for k, n in counts.items() if k != "in")
    assert not any(k.startswith("error:") and k[6:] not in error_kinds for k in counts), counts
    return out


# ---------------------------------------------------------------------------- LaTeX

LATEX_TOKENS = ["\\foo", "\\bar", "\\baz", "{", "}", "[", "]", "%", "\\%", "\\\\", "#1", "#", "\\q",
                "\\def\\q{", "\\def\\q#1{", "\\newcommand{\\foo}", "\\renewcommand\\bar[1]{", "\\let\\baz=\\foo",
                "\\long", "\\begin{comment}", "\\end{comment}", "\\section{", "\\section*{", "\\input{x}",
                "\\bibliography{", "\\begin{thebibliography}", "\\footnote{", "\\verb|", "|", "\\begin{equation}",
                "\\end{equation}", "~", "$", "\\expandafter", "\\@ifstar", "\n", "\n\n"]
PREAMBLE = ("\\documentclass{article}\n\\newcommand{\\foo}[1]{F(#1)}\n\\def\\bar{B}\n"
            "\\newcommand\\baz[2][d]{Z#1#2}\n\\title{T \\foo{t}}\n\\begin{document}\n\\section{Start}\n")
USER_MACROS = ("foo", "bar", "baz")  # defined in the preamble: no use may survive unexpanded
LATEX_ERRORS = {"macro_expansion_limit", "cleaner_budget"}


def outside_verbatim(text: str) -> str:
    return "".join(part for kind, part in segments(text) if kind != "verbatim")


def check_latex_output(out):
    if not isinstance(out, dict):
        return
    text = outside_verbatim(out["text"])
    for marker in ("\\documentclass", "\\begin{document}", "\\end{document}", "\\begin{comment}",
                   "\\begin{thebibliography}", "\\bibliography{"):
        assert marker not in text, marker
    assert not re.search(r"(?<!\\)(?:\\\\)*%", text), "a comment survived"
    unexpanded = set(out["meta"]["macros_unexpanded"])
    for name in USER_MACROS:
        if re.search(r"\\" + name + r"(?![A-Za-z@])", text):
            assert name in unexpanded, f"\\{name} left unexpanded: {text[:300]!r}"


@FUZZ
@given(markup(LATEX_TOKENS))
def test_latex_random_markup(body):
    paper = PREAMBLE + body + "\n\\end{document}\n"
    doc = make_document("arxiv", "2101.00001", paper, location="fuzz.tar.gz")
    out = assert_mapper_outcome(LatexCleaner(), doc, LATEX_ERRORS)
    check_latex_output(out)
    try:
        clean_latex(paper, meter=bounded_meter(paper))
    except Exception as exc:  # only the expansion bounds may stop it; never the work bound
        assert type(exc).__name__ == "MacroExpansionError", exc


@functools.lru_cache(maxsize=None)
def real_papers() -> tuple[str, ...]:
    docs = [next(iter(ARXIV.read(ArxivConfig(), f"{d}/"))) for d in sorted((FIXTURES / "arxiv").iterdir())]
    return tuple(d["text"][:20_000] for d in docs)


@FUZZ
@given(st.data())
def test_latex_mutated_real_papers(data):
    paper = data.draw(mutated(list(real_papers()), LATEX_TOKENS))
    doc = make_document("arxiv", "2101.00002", paper, location="fuzz.tar.gz")
    out = assert_mapper_outcome(LatexCleaner(), doc, LATEX_ERRORS)
    if isinstance(out, dict):
        text = outside_verbatim(out["text"])
        assert "\\documentclass" not in text and "\\begin{thebibliography}" not in text
        assert not re.search(r"(?<!\\)(?:\\\\)*%", text)


# ---------------------------------------------------------------------------- wikitext

WIKI_TOKENS = ["[[", "]]", "{{", "}}", "{{{", "}}}", "|", "<ref>", "</ref>", "<ref name=a/>", "<ref name=\"b\">",
               "<div>", "</div>", "<b>", "</b>", "<nowiki>", "</nowiki>", "<math>", "</math>", "''", "'''", "\n",
               "\n== H ==\n", "\n{|\n", "\n|}\n", "\n|-\n", "[http://x.org ", "]", "<!--", "-->", "__TOC__", "\n*",
               "\n#", "\n:", "\n;", "<x ", ">", "<", "[[File:a.png|", "[[Category:", "[[de:", "<br>", "<span a=\"1\">",
               "</span>", "&amp;", "[//x.org ", "~~~~", "<li>", "<gallery>", "</gallery>"]
WIKI_ERRORS = {"unparsable_wikitext", "cleaner_budget"}


def check_wiki_output(out):
    if isinstance(out, dict):
        text = out["text"]
        for mark in MARKUP_RESIDUE + ("<ref", "\ufdd0"):
            assert mark not in text, (mark, text[:300])
        assert not TAG.search(text), TAG.search(text).group()


@FUZZ
@given(markup(WIKI_TOKENS))
def test_wikitext_random_markup(wikitext):
    doc = make_document("wikipedia", "en/1", wikitext, location="fuzz.xml:1")
    check_wiki_output(assert_mapper_outcome(WikitextToText(), doc, WIKI_ERRORS))
    wikitext_to_text(wikitext, meter=bounded_meter(wikitext))


@functools.lru_cache(maxsize=None)
def real_pages() -> tuple[str, ...]:
    from llamacorpus.sources.wikipedia import Page, iter_pages

    pages = [p.text for p in iter_pages(str(FIXTURES / "wikipedia" / "enwiki-pages-articles1-shortened.xml.bz2"))
             if isinstance(p, Page) and p.ns == 0 and len(p.text) > 2000]
    return tuple(p[:30_000] for p in pages[:8])


@FUZZ
@given(st.data())
def test_wikitext_mutated_real_pages(data):
    wikitext = data.draw(mutated(list(real_pages()), WIKI_TOKENS))
    doc = make_document("wikipedia", "en/2", wikitext, location="fuzz.xml:2")
    check_wiki_output(assert_mapper_outcome(WikitextToText(), doc, WIKI_ERRORS))
    wikitext_to_text(wikitext, meter=bounded_meter(wikitext))


# ---------------------------------------------------------------------------- HTML

HTML_TOKENS = ["<p>", "</p>", "<div>", "</div>", "<ul>", "</ul>", "<ol start=\"3\">", "</ol>", "<li>", "</li>",
               "<pre>", "</pre>", "<code>", "</code>", "<br>", "<br/>", "<blockquote>", "</blockquote>", "<table>",
               "<tr>", "<td>", "</td>", "<th>", "</tr>", "</table>", "<script>", "</script>", "<style>", "<!--", "-->",
               "<b>", "</b>", "<img src=x>", "<a href=\"h\">", "</a>", "&amp;", "< ", " > ", "\n", "<h2>", "</h2>",
               "<hr>", "<?pi?>", "<![CDATA[", "]]>"]
HTML_ERRORS = {"cleaner_budget"}


@FUZZ
@given(markup(HTML_TOKENS))
def test_html_random_markup(html):
    doc = make_document("stackexchange", "beer/1", html, location="fuzz.xml:1")
    out = assert_mapper_outcome(HtmlToText(), doc, HTML_ERRORS)
    if isinstance(out, dict):
        assert not TAG.search(out["text"]), TAG.search(out["text"]).group()
    render_html(html, bounded_meter(html))


@FUZZ
@given(st.integers(0, 3000), st.sampled_from(["div", "blockquote", "ul", "b", "p", "span"]))
def test_deep_html_is_kept_or_counted_never_silently_empty(depth, tag):
    html = f"<{tag}>" * depth + "deep words" + f"</{tag}>" * depth + "<p>after</p>"
    doc = make_document("stackexchange", "beer/2", html, location="fuzz.xml:2")
    out = assert_mapper_outcome(HtmlToText(), doc, HTML_ERRORS)
    if isinstance(out, dict):
        assert "deep words" in out["text"] and "after" in out["text"]
    else:
        assert depth > 255 and out.kind == "cleaner_budget"


# ---------------------------------------------------------------------------- licence headers

@functools.lru_cache(maxsize=None)
def real_files() -> tuple[tuple[str, str], ...]:
    rows = map(json.loads, (FIXTURES / "github" / "github_sample.jsonl").read_text(encoding="utf-8").splitlines())
    return tuple((r["content"][:8000], language_of(r["path"])) for r in rows if language_of(r["path"]))


HEADER_TOKENS = ["# Copyright 2020 ACME\n", "// Licensed under the MIT License\n", "/* Copyright (c) 2019\n", " */\n",
                 "*/", "/*", "#!/usr/bin/env python\n", "# -*- coding: utf-8 -*-\n", "# vim: set sw=4:\n", "\n",
                 "-- SPDX-License-Identifier: GPL-2.0\n", "<!-- license -->\n", "x = 1\n", "#include <x.h>\n",
                 "'''docstring'''\n", "%\n", "; all rights reserved\n", "//go:build linux\n"]


@FUZZ
@given(st.data())
def test_licence_header_removal_is_complete_and_only_at_the_top(data):
    text, language = data.draw(st.sampled_from(real_files()))
    prefix = data.draw(markup(HEADER_TOKENS, max_size=12))
    text = prefix + text
    doc = make_document("github", "a/b/c", text, language=language, location="fuzz.jsonl:1")
    out = assert_mapper_outcome(StripLicenseHeader(), doc, {"cleaner_budget"})
    stripped = out["text"]
    assert license_header(stripped, language) == ""  # nothing licence-like left at the top
    assert strip_license_header(stripped, language) == (stripped, 0)
    # only the top goes: the code after the leading comments is untouched
    found = _leading_comments(text, language)
    if found is not None:
        assert stripped.endswith(text[found[2]:])


# ---------------------------------------------------------------------------- the arXiv reader

MEMBER_KINDS = ["tex", "tex", "tex", "png", "symlink", "hardlink", "dir", "fifo", "chardev", "unsafe", "empty", "binary"]
UNSAFE_NAMES = ["../up.tex", "/abs/evil.tex", "a/../../b.tex"]
OUTSIDE = "OUTSIDE_THE_PAPER"


@functools.lru_cache(maxsize=None)
def fixture_tex() -> tuple[tuple[str, bytes], ...]:
    paper = FIXTURES / "arxiv" / "arxiv-1407.6245-scikit-image"
    return tuple((p.name, p.read_bytes()) for p in sorted(paper.glob("*.tex")))


@st.composite
def archives(draw):
    """A paper's tar (gzipped or not) with members of every kind; what a correct reader yields."""
    buffer = io.BytesIO()
    expect = {"symlink_member": 0, "hardlink_member": 0, "device_member": 0, "unsafe_path": 0, "binary_member": 0}
    tex_names = set()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i, kind in enumerate(draw(st.lists(st.sampled_from(MEMBER_KINDS), min_size=1, max_size=12))):
            name, data = draw(st.sampled_from(fixture_tex()))
            info = tarfile.TarInfo(f"d{i % 3}/{name}" if kind != "tex" else name)
            if kind in ("tex", "png", "unsafe", "empty", "binary"):
                if kind == "png":
                    info.name = f"fig{i}.png"
                elif kind == "unsafe":
                    info.name = draw(st.sampled_from(UNSAFE_NAMES))
                    expect["unsafe_path"] += 1
                    data = OUTSIDE.encode()
                elif kind == "empty":
                    data = b""
                elif kind == "binary":
                    info.name = f"blob{i}.tex"
                    data = bytes(range(256)) * 8
                    expect["binary_member"] += 1
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                if kind in ("tex", "empty"):
                    tex_names.add(info.name)
            else:
                info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE,
                             "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE}[kind]
                info.linkname = "/etc/passwd" if kind in ("symlink", "hardlink") else ""
                tar.addfile(info)
                if kind != "dir":
                    expect[{"symlink": "symlink_member", "hardlink": "hardlink_member"}.get(kind, "device_member")] += 1
    data = buffer.getvalue()
    compress = draw(st.booleans())
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    if compress:
        data = gzip.compress(data, mtime=0)
    if cut is not None:
        data = data[:cut]
    return data, compress, cut, expect, tex_names


@FUZZ
@given(archives())
def test_arxiv_archives_of_every_member_kind(archive):
    data, compress, cut, expect, tex_names = archive
    name = "2101.00003.tar.gz" if compress else "2101.00003.tar"
    items = list(read_paper("2101.00003", name, archive_members(io.BytesIO(data), name, name, ArxivConfig()),
                            ArxivConfig()))
    assert all(isinstance(i, (dict, Drop, BadInput)) for i in items)
    assert not any(OUTSIDE in i["text"] for i in items if isinstance(i, dict))
    if cut is not None:
        return  # a cut archive: whatever was read before the cut, and a corrupt_archive error, or nothing
    got = {k: 0 for k in expect}
    for item in items:
        reason = item.reason if isinstance(item, Drop) else item.kind if isinstance(item, BadInput) else None
        if reason in got:
            got[reason] += 1
    assert got == expect
    docs = [i for i in items if isinstance(i, dict)]
    if docs:
        assert docs[0]["meta"]["files"] == len(tex_names)


@FUZZ
@given(st.lists(st.sampled_from(["tex", "link_out", "link_in", "dir_link_out", "dotdot_link"]), min_size=1, max_size=8))
def test_arxiv_directory_never_reads_outside_its_folder(kinds):
    with tempfile.TemporaryDirectory() as root:
        outside = os.path.join(root, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "secret.tex"), "w") as f:
            f.write(OUTSIDE + "\\documentclass{article}\\begin{document}\\section{S}" + OUTSIDE)
        paper = os.path.join(root, "inputs", "2101.00004")
        os.makedirs(paper)
        (name, data), = fixture_tex()[8:9]
        with open(os.path.join(paper, name), "wb") as f:
            f.write(data)
        escaping = 0
        for i, kind in enumerate(kinds):
            link = os.path.join(paper, f"l{i}.tex")
            if kind == "tex":
                with open(os.path.join(paper, f"t{i}.tex"), "wb") as f:
                    f.write(data)
            elif kind == "link_out":
                os.symlink(os.path.join(outside, "secret.tex"), link)
                escaping += 1
            elif kind == "dotdot_link":
                os.symlink(os.path.join("..", "..", "outside", "secret.tex"), link)
                escaping += 1
            elif kind == "link_in":
                os.symlink(name, link)
            else:
                os.symlink(outside, os.path.join(paper, f"dir{i}"))
                escaping += 1
        items = list(ARXIV.read(ArxivConfig(), paper + "/"))
    assert not any(OUTSIDE in i["text"] for i in items if isinstance(i, dict))
    unsafe = [i for i in items if isinstance(i, BadInput) and i.kind == "unsafe_path"]
    assert len(unsafe) == escaping and all(i.location.startswith(paper) for i in unsafe)


def test_the_budget_section_checks_its_values():
    import pytest

    from llamacorpus.config import ConfigError, build

    assert build(CleanerBudget, {"per_char": 50, "base": 10}).meter(100).limit == 5010
    with pytest.raises(ConfigError, match="per_char"):
        build(CleanerBudget, {"per_char": 0})


@FUZZ
@given(st.data())
def test_arxiv_gzipped_single_files(data):
    """arXiv's <id>.gz holding one .tex (or a tar): real TeX, mutated, gzipped, maybe cut or past
    max_file_bytes; the reader yields only documents, drops and counted errors."""
    paper = data.draw(mutated(list(real_papers()), LATEX_TOKENS)).encode("utf-8", "surrogatepass")
    raw = gzip.compress(paper, mtime=0)
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    raw = raw if cut is None else raw[:cut]
    cfg = ArxivConfig(max_file_bytes=data.draw(st.sampled_from([10_000, 10_000_000])))
    name = "2101.00005.gz"
    items = list(read_paper("2101.00005", name, archive_members(io.BytesIO(raw), name, name, cfg), cfg))
    assert all(isinstance(i, (dict, Drop, BadInput)) for i in items)
    kinds = {i.kind for i in items if isinstance(i, BadInput)}
    assert kinds <= {"corrupt_archive", "oversize_member"}
    if cut is None and len(paper) > cfg.max_file_bytes:
        assert "oversize_member" in kinds and not any(isinstance(i, dict) for i in items)
