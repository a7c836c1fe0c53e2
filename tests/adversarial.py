"""Issue 14's adversarial inputs, one builder per source, made in a test's tmp_path from real
fixture records plus broken variants of them (not JSON, lone surrogates, binary text, cut
streams, tar traversal and links, macro bombs, unclosed markup, nesting past the parser's limit,
a WARC record whose Content-Length runs past its member, a page whose charset lies...).

Each builder writes its files under ``root/<source>/`` and returns an :class:`Adversarial`: the
source's recipe section, the ids of the documents its good records must become, and each bad
record's expected outcome (``error:<kind>`` or ``dropped:<reason>``) with where it is (its file
and line, member or offset; a step's drop by the document's id). ``extras`` adds the named cases
of :data:`EXTRAS` (fixed on other branches first, each with its own test; all merged now).
"""
from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import io
import json
import os
import random
import re
import tarfile
import zlib
from pathlib import Path

from helpers import FIXTURES

#: the bad records of issue 14 that were fixed on other branches (kept out of the inputs unless
#: asked for, so each has its own test as well as the acceptance run's)
EXTRAS = {
    "surrogates": "lone surrogates in JSONL fields: error:invalid_unicode (readers)",
    "oversize_record": "a JSONL line past max_record_bytes: error:oversize_record, skipped streaming (readers)",
    "empty_file": "0-byte inputs: error:empty_file (readers)",
    "binary_book": "a binary book: dropped:binary (readers)",
    "charset": "a page whose declared charset lies: re-detected, charset_redetected (cc)",
}


@dataclasses.dataclass
class Bad:
    outcome: str  # "error:<kind>" or "dropped:<reason>"
    where: str  # a substring of the location recorded for it (file and line, member or offset)


@dataclasses.dataclass
class Adversarial:
    source: str
    section: dict  # the recipe section for these inputs
    good: set[str]  # ids of the documents the good records become
    bad: list[Bad]
    files: list[Path]
    counters: dict[str, int] = dataclasses.field(default_factory=dict)  # "<step>/<what>": at least this
    contains: dict[str, str] = dataclasses.field(default_factory=dict)  # document id -> text it must hold


def _write_gzip_members(path: Path, members: list[bytes], cut_last: bool = False) -> None:
    data = b"".join(gzip.compress(m, mtime=0) for m in members)
    if cut_last:
        last = gzip.compress(members[-1], mtime=0)
        data = data[: len(data) - len(last) // 2]
    path.write_bytes(data)


def _empty(path: Path, bad: list[Bad]) -> Path:
    """A 0-byte input: error:empty_file."""
    path.write_bytes(b"")
    bad.append(Bad("error:empty_file", str(path)))
    return path


def _json_lines(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------- C4

def c4(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """A shard: real records, a line that is not JSON, a record without text, (a lone surrogate),
    and a last gzip member cut in the middle."""
    records = _json_lines(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")[:8]
    folder = root / "c4"
    folder.mkdir(parents=True)
    path = folder / "c4-adversarial.json.gz"
    lines, good, bad = [], set(), []
    def add(line: str, outcome: str | None = None):
        lines.append(line)
        number = len(lines)
        if outcome:
            bad.append(Bad(outcome, f"{path}:{number}"))
        else:
            good.add(f"c4/c4-adversarial/{number}")
    for record in records[:3]:
        add(json.dumps(record))
    add('{"text": "not json', "error:not_json")
    add(json.dumps({"url": "http://example.com/no-text"}), "error:missing_text")
    for record in records[3:6]:
        add(json.dumps(record))
    if "surrogates" in extras:
        add('{"text": "a lone surrogate \\ud800 in C4 text", "url": "http://example.com/s"}', "error:invalid_unicode")
    if "oversize_record" in extras:  # past the default max_record_bytes of 64 MB
        add(json.dumps({"text": "an oversize record " * (3_600_000), "url": "http://example.com/big"}),
            "error:oversize_record")
    add(json.dumps(records[6]))
    body = ("\n".join(lines) + "\n").encode()
    tail = (json.dumps({"text": "a record cut by the end of the file " * 3000}) + "\n").encode()  # one line, cut
    _write_gzip_members(path, [body, tail], cut_last=True)
    bad.append(Bad("error:truncated_stream", f"{path}:"))
    files = [path]
    if "empty_file" in extras:
        files.append(_empty(folder / "c4-empty.json.gz", bad))
    return Adversarial("c4", {"inputs": ["c4/*.json.gz"], "min_chars": 0}, good, bad, files)


# ---------------------------------------------------------------------------- GitHub

GOOD_GITHUB = ("cc_net/dedup.py", "cc_net/minify.py", "cc_net/tokenizer.py")


def github(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """An export: real MIT files, a GPL-headed file vendored into the MIT repository, binary
    content, a line that is not JSON, a row without a path, (lone surrogates in content and path)."""
    rows = {(r["repo_name"], r["path"]): r for r in _json_lines(FIXTURES / "github" / "github_sample.jsonl")}
    gpl = rows[("marcusklang/wikiforia", "src/main/java/se/lth/cs/nlp/pipeline/Sink.java")]
    folder = root / "github"
    folder.mkdir(parents=True)
    path = folder / "github-adversarial.jsonl"
    lines, good, bad = [], set(), []
    def add(line: str, outcome: str | None = None, doc_id: str | None = None):
        lines.append(line)
        if outcome:
            bad.append(Bad(outcome, f"{path}:{len(lines)}"))
        if doc_id:
            good.add(doc_id)
    repo = "facebookresearch/cc_net"
    for name in GOOD_GITHUB[:2]:
        add(json.dumps(rows[(repo, name)]), doc_id=f"github/{repo}/{name}")
    add(json.dumps({**gpl, "repo_name": repo, "path": "vendor/Sink.java", "license": "mit"}))
    bad.append(Bad("dropped:file_license=gpl-3.0", f"github/{repo}/vendor/Sink.java"))  # a step's drop: by id
    add(json.dumps({"repo_name": repo, "path": "blob.bin", "content": "PK\x00\x03 binary", "license": "mit"}),
        "dropped:binary")
    add('{"repo_name": "x/y", "path": ', "error:not_json")
    add(json.dumps({"repo_name": repo, "content": "x = 1\n", "license": "mit"}), "error:missing_field")
    if "surrogates" in extras:
        add('{"repo_name": "%s", "path": "bad.py", "content": "x = \\"\\udc80\\"\\n", "license": "mit"}' % repo,
            "error:invalid_unicode")
        add('{"repo_name": "%s", "path": "bad\\ud800.py", "content": "x = 1\\n", "license": "mit"}' % repo,
            "error:invalid_unicode")
    add(json.dumps(rows[(repo, GOOD_GITHUB[2])]), doc_id=f"github/{repo}/{GOOD_GITHUB[2]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = [path]
    if "empty_file" in extras:
        files.append(_empty(folder / "github-empty.jsonl", bad))
    return Adversarial("github", {"inputs": ["github/*.jsonl"]}, good, bad, files)


# ---------------------------------------------------------------------------- books

def books(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """A Books3/PG-19 JSONL: two real books, a line that is not JSON, a record without text, (a
    lone surrogate); three real Gutenberg .txt books (and a binary .txt "book")."""
    folder = root / "books"
    folder.mkdir(parents=True)
    path = folder / "books-adversarial.jsonl"
    texts = [(FIXTURES / "books" / name).read_text(encoding="utf-8")[:60_000]
             for name in ("1342-0_pride-and-prejudice.txt", "84-0_frankenstein.txt")]
    lines = [json.dumps({"text": texts[0], "meta": {"pile_set_name": "Books3", "title": "Pride and Prejudice"}}),
             '{"text": "cut',
             json.dumps({"meta": {"title": "no text"}}),
             json.dumps({"text": texts[1], "meta": {"pile_set_name": "Books3", "title": "Frankenstein"}})]
    good = {"books/books3/books-adversarial/1", "books/books3/books-adversarial/4"}
    bad = [Bad("error:not_json", f"{path}:2"), Bad("error:missing_text", f"{path}:3")]
    if "surrogates" in extras:
        lines.append('{"text": "a lone surrogate \\udfff in a book", "meta": {"pile_set_name": "Books3"}}')
        bad.append(Bad("error:invalid_unicode", f"{path}:5"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = [path]
    for name in ("11-0_alice_current.txt", "84-0_frankenstein.txt", "1342-0_pride-and-prejudice.txt"):
        # real Gutenberg files beside the broken ones: most of what a source reads is good, so the
        # run's max_error_fraction (tested in tests/test_reuse.py) does not stop it
        files.append(folder / name)
        files[-1].write_bytes((FIXTURES / "books" / name).read_bytes())
        good.add(f"books/gutenberg/{name[:-len('.txt')]}")
    if "binary_book" in extras:
        binary = folder / "random-bytes.txt"
        binary.write_bytes(random.Random(14).randbytes(50_000).replace(b"\x00", b"\x01"))
        bad.append(Bad("dropped:binary", str(binary)))
        files.append(binary)
    if "empty_file" in extras:
        files.append(_empty(folder / "empty.txt", bad))
    txt = any(f.suffix == ".txt" for f in files)
    section = {"inputs": ["books/*.jsonl"] + (["books/*.txt"] if txt else []), "near_dedup": {"enabled": False}}
    return Adversarial("books", section, good, bad, files)


# ---------------------------------------------------------------------------- Wikipedia

def _page(template: str, page_id: int, title: str, text: str) -> str:
    page = re.sub(r"<title>[^<]*</title>", f"<title>{title}</title>", template, count=1)
    page = re.sub(r"<id>\d+</id>", f"<id>{page_id}</id>", page, count=1)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"<text([^>]*)>.*</text>", lambda m: f"<text{m.group(1)}>{escaped}</text>", page, count=1, flags=re.S)


def wikipedia(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """A Swedish dump (bz2, two streams): the real Amager page, a page of 80 KB of unclosed
    <ref> (issue 14: 16 s in mwparserfromhell), one of 20 KB of unclosed {{a| openers, one nested
    3,000 templates deep; the second stream cut in the middle."""
    dump = (FIXTURES / "wikipedia" / "svwiki-minidump.xml").read_text(encoding="utf-8").lstrip("\ufeff")
    head, rest = dump.split("  <page>", 1)
    template = "  <page>" + rest.rsplit("</mediawiki>", 1)[0]
    amager = template
    words = "Amager är en ö i Öresund. "
    pages = [amager,
             _page(template, 1001, "Referenser", (words + "<ref>en källa ") * 3000),
             _page(template, 1002, "Mallar", words + "\n" + "{{a|" * 5000),
             _page(template, 1003, "Djup", words + "\n" + "{{b|" * 3000 + "x" + "}}" * 3000 + "\n" + words)]
    first = head + "".join(pages)
    second = "".join(_page(template, 2000 + i, f"Avskuren {i}", words * 50) for i in range(20)) + "</mediawiki>\n"
    folder = root / "wikipedia"
    folder.mkdir(parents=True)
    path = folder / "svwiki-adversarial.xml.bz2"
    data = bz2.compress(first.encode()) + bz2.compress(second.encode())
    path.write_bytes(data[: len(data) - 400])
    good = {"wikipedia/sv/1", "wikipedia/sv/1001", "wikipedia/sv/1002", "wikipedia/sv/1003"}
    bad = [Bad("error:truncated_bz2", str(path))]
    files = [path]
    if "empty_file" in extras:
        files.append(_empty(folder / "empty.xml", bad))
    return Adversarial("wikipedia", {"inputs": ["wikipedia/*.xml*"], "languages": ["sv"]}, good, bad, files)


# ---------------------------------------------------------------------------- arXiv

def _tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def arxiv(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """Papers: emcee's real source with a traversal member, a symlink, a hard link, a device, a
    binary .tex and an oversize member; a macro bomb; 256 KB of unclosed \\def\\q{ (issue 14: 236
    s); an archive whose one member is 64 MiB of zeros (past max_archive_bytes); a paper
    directory with a symlink out of it."""
    folder = root / "arxiv"
    folder.mkdir(parents=True)
    emcee = (FIXTURES / "arxiv" / "arxiv-1202.3665-emcee" / "ms.tex").read_bytes()
    main = folder / "1202.3665.tar.gz"
    _tar_gz(main, [(_info("ms.tex"), emcee), (_info("../escape.tex"), b"\\newcommand{\\etal}{ESCAPED}"),
                   (_info("figs/link.tex", tarfile.SYMTYPE, "/etc/passwd"), None),
                   (_info("figs/hard.tex", tarfile.LNKTYPE, "ms.tex"), None),
                   (_info("dev.tex", tarfile.CHRTYPE), None),
                   (_info("blob.tex"), bytes(range(256)) * 64),
                   (_info("data/huge.tex"), b"% " + b"0123456789" * 50_000)])
    bomb = folder / "2101.00001.gz"
    bomb.write_bytes(gzip.compress(b"\\documentclass{article}\\newcommand{\\loop}{\\loop x}\\begin{document}"
                                   b"\\section{A}\\loop\\end{document}", mtime=0))
    unclosed = folder / "2101.00002.gz"
    unclosed.write_bytes(gzip.compress(b"\\documentclass{article}\\begin{document}\\section{Intro}\n"
                                       + b"\\def\\q{ word " * 20_000, mtime=0))
    zeros = folder / "2101.00003.tar.gz"
    with tarfile.open(zeros, "w:gz", compresslevel=1) as tar:
        info = _info("zeros.tex")
        info.size = 64 << 20
        tar.addfile(info, _Zeros(info.size))
    paper = folder / "dirs" / "2101.00004"
    paper.mkdir(parents=True)
    (paper / "main.tex").write_bytes(emcee.replace(b"\\title{", b"\\title{Directory ", 1))
    outside = root / "outside.tex"
    outside.write_text("\\documentclass{article}\\begin{document}\\section{S}OUTSIDE THE INPUT ROOT")
    os.symlink(outside, paper / "appendix.tex")
    where = lambda p, m: f"{p}!{m}"  # noqa: E731
    bad = [Bad("error:unsafe_path", where(main, "../escape.tex")),
           Bad("dropped:symlink_member", where(main, "figs/link.tex")),
           Bad("dropped:hardlink_member", where(main, "figs/hard.tex")),
           Bad("dropped:device_member", where(main, "dev.tex")),
           Bad("dropped:binary_member", where(main, "blob.tex")),
           Bad("error:oversize_member", where(main, "data/huge.tex")),
           Bad("error:macro_expansion_limit", str(bomb)),
           Bad("error:oversize_archive", where(zeros, "zeros.tex")),
           Bad("dropped:no_tex_files", str(zeros)),
           Bad("error:unsafe_path", str(paper / "appendix.tex"))]
    good = {"arxiv/1202.3665", "arxiv/2101.00002", "arxiv/2101.00004"}
    files = [main, bomb, unclosed, zeros, paper]
    if "empty_file" in extras:
        files.append(_empty(folder / "2101.00005.tar.gz", bad))
    section = {"inputs": ["arxiv/*.gz", "arxiv/dirs/*/"], "max_file_bytes": 400_000, "max_archive_bytes": 8 << 20}
    return Adversarial("arxiv", section, good, bad, files)


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, streamed (the 64 MiB member is never held in memory)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


# ---------------------------------------------------------------------------- Stack Exchange

def stackexchange(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """A site's Posts.xml: two real questions with their answers, a row that is not XML, an
    entity that is not defined, a question whose body nests 300 divs (kept, flattened) and one
    nesting 3,000 (past the HTML parser's depth: error:cleaner_budget)."""
    source = (FIXTURES / "stackexchange" / "beer.stackexchange.com-Posts.xml").read_text(encoding="utf-8-sig")
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r'<row Id="(\d+)".*?/>', source)}
    wanted = [1, 4, 2, 46, 102, 175, 177]
    folder = root / "stackexchange"
    folder.mkdir(parents=True)
    path = folder / "adversarial.stackexchange.com-Posts.xml"
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<posts>"]
    bad = []
    def add(row: str, outcome: str | None = None):
        lines.append("  " + row)
        if outcome:
            bad.append(Bad(outcome, f"{path}:{len(lines)}"))
    for post_id in wanted:
        add(rows[post_id])
    add('<row Id="900" PostTypeId="1" Score="1" Body="&lt;p&gt;broken" Title="cut', "error:malformed_row")
    add('<row Id="901" PostTypeId="1" Score="1" Body="&lol9;" Title="entity" />', "error:malformed_row")
    deep = lambda n: "&lt;div&gt;" * n + "deep words" + "&lt;/div&gt;" * n  # noqa: E731
    add(f'<row Id="902" PostTypeId="1" Score="1" Body="{deep(300)}" Title="Three hundred divs" />')
    add(f'<row Id="903" PostTypeId="1" Score="1" Body="{deep(3000)}" Title="Three thousand divs" />',
        "error:cleaner_budget")
    lines.append("</posts>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    site = "adversarial.stackexchange.com"
    good = {f"stackexchange/{site}/1", f"stackexchange/{site}/2", f"stackexchange/{site}/902"}
    files = [path]
    if "empty_file" in extras:
        files.append(_empty(folder / "empty.stackexchange.com-Posts.xml", bad))
    return Adversarial("stackexchange", {"inputs": ["stackexchange/*-Posts.xml"], "top_sites": 0}, good, bad, files)


# ---------------------------------------------------------------------------- Common Crawl

def warc_members(path: Path) -> list[bytes]:
    """The decompressed gzip members of a .warc.gz (one record each)."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        d = zlib.decompressobj(31)
        out.append(d.decompress(data[pos:]))
        pos = len(data) - len(d.unused_data)
    return out


def _warc_record(uri: str, http: bytes, content_length: int | None = None) -> bytes:
    digest = hashlib.sha1(http).hexdigest()
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Date: 2020-08-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{digest[:8]}-0000-0000-0000-{digest[:12]}>\r\nWARC-Target-URI: {uri}\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {content_length if content_length is not None else len(http)}\r\n\r\n")
    return head.encode() + http + b"\r\n\r\n"


def commoncrawl(root: Path, extras: frozenset[str] = frozenset()) -> Adversarial:
    """A WARC: real English pages, a page whose HTTP status is 404, a record whose Content-Length
    runs past its member, (a Russian page whose charset=utf-8 is cp1251), and the last member cut
    in the middle."""
    members = warc_members(FIXTURES / "commoncrawl" / "realpages-00000.warc.gz")
    hosts = (b"theverge.com", b"polygraph.info", b"newrepublic.com", b"bbc.com/news", b"sciencealert.com")
    english = [m for m in members if b"WARC-Type: response" in m[:600] and any(h in m[:600] for h in hosts)]
    folder = root / "commoncrawl"
    folder.mkdir(parents=True)
    path = folder / "CC-adversarial.warc.gz"
    records = [members[0], english[0]]
    body = b"<html><body><p>" + b"Nothing here. " * 40 + b"</p></body></html>"
    records.append(_warc_record("https://example.com/gone",
                                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n" + body))
    bad = []
    # its Content-Length runs past its member: bad_content_length, and the next record is read
    records.append(_warc_record("https://example.com/claims-too-much",
                                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body,
                                content_length=len(body) + 100_000))
    charset_at = len(records)
    if "charset" in extras:
        russian = ("<html><head><title>Новости</title></head><body><p>"
                   + "Москва — столица России, крупнейший по численности населения город страны. " * 30
                   + "</p></body></html>").encode("cp1251")
        records.append(_warc_record("https://example.ru/cp1251-page",
                                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + russian))
    records += english[1:3]
    offsets, pos = [], 0
    for record in records:
        offsets.append(pos)
        pos += len(gzip.compress(record, mtime=0))
    bad.append(Bad("dropped:http_status=404", f"{path}@{offsets[2]}"))
    bad.append(Bad("error:bad_content_length", f"{path}@{offsets[3]}"))
    records.append(english[3])
    _write_gzip_members(path, records, cut_last=True)
    bad.append(Bad("error:truncated_gzip", f"{path}@{pos}"))
    good_path = folder.parent / "commoncrawl-good.warc.gz"  # the good records alone, to learn their ids
    _write_gzip_members(good_path, [english[0], *english[1:3]])
    from llamacorpus.sources.commoncrawl import SOURCE, CommonCrawlConfig

    good = {d["id"] for d in SOURCE.read(CommonCrawlConfig(min_chars=0), str(good_path)) if isinstance(d, dict)}
    counters, contains = {}, {}
    if "charset" in extras:
        single = _single(folder.parent, records[charset_at])
        page = next(d["id"] for d in SOURCE.read(CommonCrawlConfig(min_chars=0), str(single)) if isinstance(d, dict))
        good.add(page)
        contains[page] = "Москва — столица России"
        counters["read/charset_redetected"] = 1
    files = [path]
    if "empty_file" in extras:
        files.append(_empty(folder / "CC-empty.warc.gz", bad))
    section = {"inputs": ["commoncrawl/*.warc.gz"], "languages": ["en", "ru"], "language_threshold": 0.3,
               "min_chars": 0, "line_dedup": "off", "perplexity": {"enabled": False},
               "classifier": {"enabled": False}}
    return Adversarial("commoncrawl", section, good, bad, files, counters, contains)


def _single(folder: Path, record: bytes) -> Path:
    path = folder / f"single-{hashlib.sha1(record).hexdigest()[:8]}.warc.gz"
    path.write_bytes(gzip.compress(record, mtime=0))
    return path


BUILDERS = {"commoncrawl": commoncrawl, "c4": c4, "github": github, "wikipedia": wikipedia, "books": books,
            "arxiv": arxiv, "stackexchange": stackexchange}
