"""Licence-header removal on real files of the GitHub fixture, and the cases RedPajama's regex got
wrong (it removed every leading #include, #define, #! and Markdown heading line)."""
import json

import pytest

from helpers import FIXTURES
from llamacorpus.document import make_document
from llamacorpus.steps.clean.license_header import StripLicenseHeader, strip_license_header

ROWS = {(r["repo_name"], r["path"]): r["content"]
        for r in map(json.loads, (FIXTURES / "github" / "github_sample.jsonl").read_text(encoding="utf-8").splitlines())}


def real(repo, path):
    return ROWS[(repo, path)]


def test_cc_net_hash_comment_header_is_removed_docstring_stays():
    text = real("facebookresearch/cc_net", "cc_net/dedup.py")
    assert text.startswith("# Copyright (c) Facebook, Inc. and its affiliates.\n")
    out, removed = strip_license_header(text, "Python")
    assert out.startswith('"""\nTools to remove duplicate paragraphs across one or several shards.\n"""\n')
    assert "Copyright" not in out[:500] and "licensed under" not in out[:500]
    assert text.endswith(out) and removed == len(text) - len(out)


def test_gensim_keeps_shebang_and_coding_line():
    text = real("RaRe-Technologies/gensim", "gensim/corpora/bleicorpus.py")
    out, _ = strip_license_header(text, "Python")
    assert out.startswith('#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n"""Сorpus in Blei\'s LDA-C format."""\n')
    assert "Radim" not in out.split('"""')[0] and "LGPL" not in out.split('"""')[0]


def test_cython_directive_inside_the_header_stays():
    text = real("RaRe-Technologies/gensim", "gensim/corpora/_mmreader.pyx")
    out, _ = strip_license_header(text, "Cython")
    assert out.startswith('# cython: embedsignature=True\n"""Reader for corpus in the Matrix Market format."""')


def test_shell_script_keeps_shebang_after_header_removal():
    text = real("meta-llama/llama", "download.sh")
    out, _ = strip_license_header(text, "Shell")
    assert out.startswith("#!/usr/bin/env bash\nset -e\n")
    assert "Community License" not in out


def test_java_javadoc_licence_block_is_removed():
    text = real("marcusklang/wikiforia", "src/main/java/se/lth/cs/nlp/pipeline/Sink.java")
    out, _ = strip_license_header(text, "Java")
    assert out.startswith("package se.lth.cs.nlp.pipeline;")
    assert "/**\n * Sink, an event listener\n */" in out  # the class's own Javadoc stays


def test_minified_js_keeps_code_and_css_keeps_its_next_comment():
    js = real("Yoav-Shafir/Elasticsearch-Coffee-Search-Engine-JS", "public/js/vendor/angular.min.js")
    out, _ = strip_license_header(js, "JavaScript")
    assert out.startswith("(function(S,U,s){'use strict';")
    css = real("Yoav-Shafir/Elasticsearch-Coffee-Search-Engine-JS", "public/css/normalize.css")
    out, _ = strip_license_header(css, "CSS")
    assert out.startswith("/**\n * 1. Set default font family to sans-serif.")


@pytest.mark.parametrize("repo,path,language", [
    ("pallets/markupsafe", "src/markupsafe/_speedups.c", "C"),  # starts with #include, then #define
    ("pallets/markupsafe", "src/markupsafe/__init__.py", "Python"),
    ("webrecorder/warcio", "setup.py", "Python"),  # shebang + vim modeline, no licence
    ("jarun/googler", "auto-completion/bash/googler-completion.bash", "Shell"),  # a comment header without licence
    ("cocrawler/cdx_toolkit", "README.md", "Markdown"),  # "# cdx_toolkit" heading
    ("facebookresearch/cc_net", "CONTRIBUTING.md", "Markdown"),  # mentions the licence in its body
])
def test_files_without_a_licence_header_are_unchanged(repo, path, language):
    text = real(repo, path)
    assert strip_license_header(text, language) == (text, 0)


def test_redpajama_cases_include_define_and_shebang_stay():
    c = "#include <stdio.h>\n#define N 10\n\nint main(void) { return N; }\n"
    assert strip_license_header(c, "C") == (c, 0)
    licensed_c = "/*\n * Copyright (c) 2020 ACME\n * SPDX-License-Identifier: MIT\n */\n" + c
    assert strip_license_header(licensed_c, "C")[0] == c
    sh = "#!/bin/sh\n# Copyright 2021 ACME. All rights reserved.\n\necho hi\n"
    assert strip_license_header(sh, "Shell")[0] == "#!/bin/sh\necho hi\n"
    md = "# Title\n\nCopyright 2020 ACME, MIT licence.\n"
    assert strip_license_header(md, "Markdown") == (md, 0)
    doc = '"""Copyright 2020 ACME: a docstring is code, not a comment."""\nx = 1\n'
    assert strip_license_header(doc, "Python") == (doc, 0)


def test_other_comment_styles():
    sql = "-- Copyright 2019 ACME\n-- Licensed under the Apache License 2.0\nSELECT 1;\n"
    assert strip_license_header(sql, "SQL")[0] == "SELECT 1;\n"
    asm = "; Copyright 1999 ACME\n; License: BSD\nmov eax, 1\n"
    assert strip_license_header(asm, "Assembly")[0] == "mov eax, 1\n"
    go = "// Copyright 2020 The Go Authors. All rights reserved.\n\n//go:build linux\n\npackage x\n"
    assert strip_license_header(go, "Go")[0] == "//go:build linux\n\npackage x\n"
    unterminated = "/* Copyright 1999\nint x;\n"
    assert strip_license_header(unterminated, "C") == (unterminated, 0)
    assert strip_license_header("# Copyright 2020\nx = 1\n", None) == ("# Copyright 2020\nx = 1\n", 0)


def test_mapper_records_what_it_removed():
    text = real("facebookresearch/cc_net", "cc_net/mine.py")
    doc = make_document("github", "facebookresearch/cc_net/cc_net/mine.py", text, language="Python")
    out = StripLicenseHeader().map(doc)
    assert out["meta"]["header_chars_removed"] == len(text) - len(out["text"]) > 0
    assert doc["text"] == text  # the input is not mutated
    plain = make_document("github", "x/y/z.py", "x = 1\n", language="Python")
    assert StripLicenseHeader().map(plain) is plain


# ---------------------------------------------------------------------------- a file's own licence

from llamacorpus.steps import run_steps  # noqa: E402
from llamacorpus.steps.filters.license import LicenseFilter, header_license  # noqa: E402
from llamacorpus.steps.clean.license_header import license_header  # noqa: E402

PERMISSIVE = ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"]
GPL_FILE = ("marcusklang/wikiforia", "src/main/java/se/lth/cs/nlp/pipeline/Sink.java")
LGPL_FILE = ("RaRe-Technologies/gensim", "gensim/corpora/dictionary.py")


def vendored(repo_path, into="facebookresearch/cc_net", license="MIT", language="Java"):
    """A real file of the fixture, as if it were vendored into an MIT repository."""
    return make_document("github", f"{into}/vendor/{repo_path[1].rsplit('/', 1)[-1]}", real(*repo_path),
                         repo_name=into, license=license, language=language)


def test_a_gpl_file_in_an_mit_repository_is_dropped_as_file_license():
    """wikiforia's real GPL-3.0 notice ("This program is free software: ... GNU General Public
    License ... version 3 ..."), in a file of an MIT repository: dropped, not kept as MIT with
    the notice stripped."""
    header = license_header(real(*GPL_FILE), "Java")
    assert "GNU General Public License" in header and header_license(header) == "GPL-3.0"
    report = run_steps([LicenseFilter(PERMISSIVE), StripLicenseHeader()], [vendored(GPL_FILE)])
    assert report.kept == [] and report.counts["license"] == {"in": 1, "dropped:file_license=gpl-3.0": 1}
    [(step, drop)] = report.dropped
    assert drop.doc["meta"]["file_license"] == "GPL-3.0" and drop.doc["meta"]["license"] == "MIT"


def test_short_licence_names_and_spdx_identifiers_in_headers():
    lgpl = vendored(LGPL_FILE, language="Python")  # "# Licensed under the GNU LGPL v2.1 - http://..."
    assert header_license(license_header(lgpl["text"], "Python")) == "LGPL-2.1"
    spdx = "// SPDX-License-Identifier: GPL-2.0-only\nint x;\n"
    dual = "/* Dual licensed under the MIT or GPL Version 2 licenses. */\nvar x;\n"
    expression = "// SPDX-License-Identifier: (MIT OR Apache-2.0) AND BSD-3-Clause\nint y;\n"
    gpl_with = "# SPDX-License-Identifier: GPL-2.0-or-later WITH Classpath-exception-2.0\nx = 1\n"
    docs = [lgpl] + [make_document("github", f"acme/x/f{i}", text, license="MIT", language=language)
                     for i, (text, language) in enumerate([(spdx, "C"), (dual, "JavaScript"), (expression, "C"),
                                                           (gpl_with, "Python")])]
    report = run_steps([LicenseFilter(PERMISSIVE)], docs)
    assert [d["id"] for d in report.kept] == ["github/acme/x/f1", "github/acme/x/f2"]
    assert sorted(d.reason for _, d in report.dropped) == ["file_license=gpl-2.0-only", "file_license=gpl-2.0-or-later",
                                                           "file_license=lgpl-2.1"]
    assert report.kept[0]["meta"]["file_license"] == "GPL-2.0 OR MIT"  # dual: either may be chosen


def test_files_whose_header_names_no_licence_keep_the_repository_licence():
    """cc_net's own MIT header, and headers that name nobody's licence, are kept under the
    repository's licence; without file headers checked, the repository decides alone."""
    own = make_document("github", "facebookresearch/cc_net/cc_net/dedup.py", real("facebookresearch/cc_net", "cc_net/dedup.py"),
                        license="MIT", language="Python")
    plain = make_document("github", "acme/x/a.py", "# Copyright 2020 ACME\nx = 1\n", license="MIT", language="Python")
    report = run_steps([LicenseFilter(PERMISSIVE)], [own, plain])
    assert len(report.kept) == 2 and report.kept[0]["meta"]["file_license"] == "MIT"
    assert "file_license" not in report.kept[1]["meta"]
    assert run_steps([LicenseFilter(PERMISSIVE, file_headers=False)], [vendored(GPL_FILE)]).kept
    # the repository's licence still comes first
    gpl_repo = make_document("github", "a/b/c.py", "x = 1\n", license="GPL-3.0", language="Python")
    assert run_steps([LicenseFilter(PERMISSIVE)], [gpl_repo]).counts["license"]["dropped:license=gpl-3.0"] == 1
