"""Line-level deduplication: CCNet's rule (or C4's) as a Beam join, over the whole run (the
default) or, as CCNet did, within one dump or within groups of files of a dump.

Normalisation and hash are CCNet's (``cc_net/text_normalizer.py: normalize_for_dedup``, in
:func:`llamacorpus.steps.normalize.normalize_for_dedup`, and ``cc_net/dedup.py: compute_hashes``):
a document is split on ``"\\n"``, each line normalised; the hash is the first 8 bytes of the
SHA-1 of the UTF-8 bytes. Lines that normalise to nothing are removed from every
document, as in CCNet, where the hash of the empty string always counts as a duplicate; they never
enter the join (they would be its hottest key).

Rules, within the scope:

* ``ccnet``: a line whose hash occurs two or more times in the scope (repeats inside one
  document count) is removed from every document that has it, first copy included.
* ``c4``: of the copies of such a line, the first copy in the document whose id hashes lowest
  (:func:`~llamacorpus.document.stable_hash`) is kept; every other copy is removed.

Scope (``line_dedup_scope`` of the Common Crawl recipe section, :func:`parse_scope`):

* ``run``: every document the step sees (all files of all dumps in the run). The default; wider
  than CCNet's.
* ``dump``: hashes are shared only among documents of one Common Crawl dump. The dump is the
  snapshot id (``CC-MAIN-YYYY-WW``) in the document's ``cc_segment`` (CC's path
  ``crawl-data/CC-MAIN-2020-34/segments/...``, or a file name that carries the id); a file whose
  path names no snapshot (a CC file copied under its own name ``CC-MAIN-2020080816...``, or any
  other WARC/WET) belongs to the dump ``unknown``, all such files together: keep CC's
  ``crawl-data/<snapshot>/`` layout to tell dumps apart.
* ``files:N``: within groups of N files of a dump, the way CCNet shares hashes among groups of
  shards: ``mine.py`` splits a dump into ``num_shards`` shards of consecutive WET files (its
  listing order) and dedups each shard against the hashes of its group of ``hash_in_mem`` shards
  (CCNet's defaults, 1600 and 50: groups of 1/32 of a dump; RedPajama ran ``--num_shards 5000
  --hash_in_mem 1``: one shard, 1/5000 of a dump's WET files). Here the files of a dump are the
  distinct ``cc_segment`` values of its documents, sorted (CC's listing order for CC's paths); the
  first N form group 0, the next N group 1, and so on.

The scope is a key prefix of the line-hash group, so a narrower scope is also smaller groups.

A document left with no line is dropped (``emptied_by_line_dedup``). Kept documents get
``original_nlines`` and ``nlines`` (CCNet's names) in meta.

Beam shape (TFDS C4's line dedup): each document emits ``(scope prefix + line hash, (document
key, copies, ...))`` once per distinct line hash, the entry packed in 12 to 24 bytes
(:func:`entry_struct`); ``GroupByKey`` on that key decides which documents lose which lines
(:func:`hash_decisions`); the decisions (hash + one byte) go back to the documents with
``CoGroupByKey`` on the document key, and each document (packed, :func:`llamacorpus.document.pack`:
half its bytes in that shuffle) carries its lines' hashes so nothing is normalised twice. The
document key is ``stable_hash(id)``, a 64-bit integer, so the shuffle carries 8 bytes where the id
string would take ~50. Two ids sharing a key (about one pair in 10^19 / n^2)
are handled: a document applies only decisions about hashes it holds; under the ``c4`` rule such a
pair could keep one extra copy. Under ``files:N`` the groups of files come from a side input (the
sorted distinct ``cc_segment`` values, one per input file).

Report (``stats/line_dedup.json``, :attr:`llamacorpus.layout.Layout.line_dedup`), per dump:
files, documents, ``lines_in`` (non-blank lines), ``lines_removed`` (under the chosen scope), and
``removed_by_scope``: what each of ``run``, ``dump`` and ``files:N`` (N of the chosen scope, else
1: within one file) would remove, computed in the same pass. Each hash group holds every copy of
its line within the chosen scope, so the figures of that scope and of every narrower one are
exact; a wider one cannot be seen from its groups and is ``null`` (choose ``run``, the default, to
get all three). The cost is in the entries, and only when the report is asked for (``stats_path``;
the Common Crawl source always asks): under ``run`` each carries its dump's code and a 64-bit
hash of its file besides the document key and copies, about 14 bytes more per (document, distinct
line) in the shuffle; under ``dump`` the file hash only; under ``files:N`` nothing.

Counters under the step: ``lines_in`` (non-blank lines), ``lines_blank``, ``lines_removed``
(duplicate lines removed), ``documents_emptied``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
from typing import Iterable, Iterator

import apache_beam as beam

from llamacorpus import fileio
from llamacorpus.steps.adapter import GlobalStep, StepCounters, StepOutputs
from llamacorpus.document import Document, pack, replace, stable_hash, unpack
from llamacorpus.steps import Drop
from llamacorpus.steps.normalize import normalized_text

RULES = ("ccnet", "c4")
HASH_BYTES = 8
BLANK = b"\0" * HASH_BYTES  # the slot of a line that normalises to nothing (never emitted)
EMPTIED = "emptied_by_line_dedup"
#: the meta field naming a document's input file (CCNet's name); dump and file group come from it
FILE_FIELD = "cc_segment"
SNAPSHOT = re.compile(r"CC-MAIN-(\d{4})-(\d{2})(?!\d)")
UNKNOWN_DUMP = "unknown"
SCOPE_FORMS = "run, dump or files:N (N >= 1)"


def line_hash(normalized: str) -> bytes:
    """CCNet's line hash: the first 8 bytes of SHA-1 of the normalised line's UTF-8."""
    return hashlib.sha1(normalized.encode("utf-8", "surrogatepass")).digest()[:HASH_BYTES]


def line_hashes(text: str) -> list[bytes]:
    """The hash of every line of ``text`` (split on ``"\\n"``); :data:`BLANK` for blank lines."""
    encoded = normalized_text(text).encode("utf-8", "surrogatepass").split(b"\n")
    sha1 = hashlib.sha1
    return [sha1(line).digest()[:HASH_BYTES] if line else BLANK for line in encoded]


def copies_per_hash(hashes: Iterable[bytes]) -> dict[bytes, int]:
    """Copies of each non-blank hash in one document."""
    counts: dict[bytes, int] = {}
    for h in hashes:
        if h != BLANK:
            counts[h] = counts.get(h, 0) + 1
    return counts


# ---------------------------------------------------------------------------- scope

@dataclasses.dataclass(frozen=True)
class Scope:
    """Where line hashes are shared: the whole ``run``, one ``dump``, or ``files``: groups of
    ``files`` files of a dump (see the module docstring)."""

    kind: str = "run"
    files: int = 0

    def __str__(self) -> str:
        return f"files:{self.files}" if self.kind == "files" else self.kind

    @property
    def file_scope(self) -> str:
        """The file-group scope of the report: this one's, else ``files:1`` (within one file)."""
        return str(self) if self.kind == "files" else "files:1"

    @property
    def reported(self) -> tuple[str, ...]:
        """The report's scopes, widest first."""
        return ("run", "dump", self.file_scope)

    @property
    def partitions(self) -> tuple[tuple[str, int | None], ...]:
        """``(scope, entry position of its partition tag)`` for the scopes this scope's hash groups
        measure: itself (``None``: the whole group) and the narrower ones (see :func:`scope_key`)."""
        if self.kind == "run":
            return (("run", None), ("dump", 2), ("files:1", 3))
        if self.kind == "dump":
            return (("dump", None), ("files:1", 2))
        return ((str(self), None),)


def parse_scope(value) -> Scope:
    """``run``, ``dump`` or ``files:N`` -> :class:`Scope`; ValueError saying what is accepted."""
    if isinstance(value, Scope):
        return value
    text = str(value).strip()
    if text in ("run", "dump"):
        return Scope(text)
    kind, sep, n = text.partition(":")
    if kind.strip() == "files" and sep and n.strip().isdigit() and int(n) >= 1:
        return Scope("files", int(n))
    raise ValueError(f"must be {SCOPE_FORMS}, got {value!r}")


def dump_of(segment: str) -> str:
    """The Common Crawl snapshot (``CC-MAIN-2020-34``) a file's path names, else ``unknown``."""
    m = SNAPSHOT.search(segment or "")
    return m.group(0) if m else UNKNOWN_DUMP


def dump_code(dump: str) -> int:
    """``CC-MAIN-YYYY-WW`` -> YYYYWW (4 bytes of a key), ``unknown`` -> 0; :func:`dump_name` undoes it."""
    m = SNAPSHOT.fullmatch(dump)
    return int(m.group(1)) * 100 + int(m.group(2)) if m else 0


def dump_name(code: int) -> str:
    return f"CC-MAIN-{code // 100:04d}-{code % 100:02d}" if code else UNKNOWN_DUMP


def file_groups(segments: Iterable[str], n: int) -> dict[str, int]:
    """File -> its group in its dump: the dump's distinct files sorted, each N consecutive a group."""
    by_dump: dict[str, list[str]] = {}
    for segment in set(segments):
        by_dump.setdefault(dump_of(segment), []).append(segment)
    return {segment: i // n for files in by_dump.values() for i, segment in enumerate(sorted(files))}


def scope_key(scope: Scope, segment: str, groups: dict[str, int] | None = None) -> tuple[bytes, tuple]:
    """(key prefix of the document's line hashes, tags of its entries) under ``scope``.

    The prefix confines a hash group to the scope: ``run`` none, ``dump`` the dump's code,
    ``files`` the code and the file group (``groups``, :func:`file_groups`). The tags (after the
    entry's document key and copies) let the group measure the narrower scopes for the report:
    under ``run`` the dump code and a hash of the file, under ``dump`` the hash of the file.
    """
    code = dump_code(dump_of(segment))
    if scope.kind == "run":
        return b"", (code, stable_hash(segment))
    if scope.kind == "dump":
        return struct.pack(">I", code), (stable_hash(segment),)
    return struct.pack(">II", code, (groups or {}).get(segment, 0)), ()


def removals(key: bytes, entries: Iterable[tuple], rule: str, scope: Scope) -> dict[tuple[str, str], int]:
    """``(dump, scope) -> lines removed`` by one hash group, for each scope of ``scope.partitions``.

    ``entries`` as :func:`scope_key` makes them: ``(document key, copies, *tags)``. Within each
    partition of the group, a line with two or more copies loses every copy (``ccnet``) or all
    but one (``c4``: the lowest document key keeps its first copy), counted in each copy's dump.
    """
    group_dump = struct.unpack(">I", key[:4])[0] if scope.kind != "run" else None
    partitions = scope.partitions
    states: dict[tuple, list] = {}  # (scope, tag) -> [total, {dump: copies}, lowest key, its dump]
    for entry in entries:
        doc_key, copies = entry[0], entry[1]
        dump = entry[2] if group_dump is None else group_dump
        for name, at in partitions:
            part = (name, entry[at] if at is not None else None)
            state = states.get(part)
            if state is None:
                state = states[part] = [0, {}, doc_key, dump]
            state[0] += copies
            state[1][dump] = state[1].get(dump, 0) + copies
            if doc_key < state[2]:
                state[2], state[3] = doc_key, dump
    out: dict[tuple[str, str], int] = {}
    for (name, _), (total, by_dump, _, winner_dump) in states.items():
        if total < 2:
            continue
        for dump, copies in by_dump.items():
            out[(dump_name(dump), name)] = out.get((dump_name(dump), name), 0) + copies
        if rule == "c4":
            out[(dump_name(winner_dump), name)] -= 1
    return out


# ---------------------------------------------------------------------------- decisions

def hash_decisions(entries: Iterable[tuple], rule: str) -> Iterator[tuple[int, bool]]:
    """What the documents holding one line hash do with it.

    ``entries`` are ``(document key, copies in that document, ...)`` for every document having the
    hash (iterated at most twice); yields ``(document key, keep_first)``: ``False`` removes every
    copy, ``True`` keeps the first copy only. Documents not named keep their copies.
    """
    if rule == "ccnet":
        first, n = None, 0
        for entry in entries:
            n += 1
            if n == 1:
                first = entry
                continue
            if n == 2:
                yield first[0], False
            yield entry[0], False
        if n == 1 and first[1] >= 2:
            yield first[0], False
        return
    if rule != "c4":
        raise ValueError(f"line dedup rule must be one of {RULES}, got {rule!r}")
    total, winner, winner_copies = 0, None, 0
    for entry in entries:
        key, copies = entry[0], entry[1]
        total += copies
        if winner is None or key < winner:
            winner, winner_copies = key, copies
    if total < 2:
        return
    for entry in entries:
        if entry[0] != winner:
            yield entry[0], False
    if winner_copies >= 2:
        yield winner, True


def apply_decisions(text: str, hashes: list[bytes], decisions: dict[bytes, bool]) -> tuple[list[str], int]:
    """Kept lines of ``text`` under ``decisions`` (hash -> keep_first) and the duplicates removed.

    Blank lines are removed and not counted as duplicates.
    """
    kept, removed, seen = [], 0, set()
    for line, h in zip(text.split("\n"), hashes):
        if h == BLANK:
            continue
        decision = decisions.get(h)
        if decision is None:
            kept.append(line)
        elif decision and h not in seen:
            seen.add(h)
            kept.append(line)
        else:
            removed += 1
    return kept, removed


def segment_of(doc: Document) -> str:
    return doc["meta"].get(FILE_FIELD) or ""


def dedup_documents(docs: list[Document], rule: str = "ccnet", scope: str | Scope = "run") -> list[Document | Drop]:
    """The whole step on a list, without Beam (tests, notebooks): each input's outcome, in order."""
    scope = parse_scope(scope)
    groups = file_groups(map(segment_of, docs), scope.files) if scope.kind == "files" else None
    hashes = [line_hashes(d["text"]) for d in docs]
    entries: dict[bytes, list[tuple[int, int]]] = {}
    for doc, hs in zip(docs, hashes):
        prefix, _ = scope_key(scope, segment_of(doc), groups)
        for h, copies in copies_per_hash(hs).items():
            entries.setdefault(prefix + h, []).append((stable_hash(doc["id"]), copies))
    per_doc: dict[int, list[tuple[bytes, bool]]] = {}
    for key, group in entries.items():
        for doc_key, keep_first in hash_decisions(group, rule):
            per_doc.setdefault(doc_key, []).append((key[-HASH_BYTES:], keep_first))
    return [_finish(doc, hs, per_doc.get(stable_hash(doc["id"]), []))[0] for doc, hs in zip(docs, hashes)]


def _finish(doc: Document, hashes: list[bytes], decisions: list[tuple[bytes, bool]]):
    """(new document or Drop, lines in, blank lines, lines removed)."""
    held = set(hashes)
    kept, removed = apply_decisions(doc["text"], hashes, {h: k for h, k in decisions if h in held})
    blank = hashes.count(BLANK)
    lines_in = len(hashes) - blank
    if not kept:
        return Drop(EMPTIED, doc), lines_in, blank, removed
    meta = dict(doc["meta"], original_nlines=len(hashes), nlines=len(kept))
    return replace(doc, text="\n".join(kept), meta=meta), lines_in, blank, removed


# ---------------------------------------------------------------------------- the report

def scope_report(source: str, rule: str, scope: Scope, totals: Iterable[tuple[tuple[str, str], int]]) -> dict:
    """``stats/line_dedup.json`` from ``((dump, field), n)`` totals; fields ``files``,
    ``documents``, ``lines_in``, ``lines_removed`` and ``removed:<scope>``."""
    measured = {name for name, _ in scope.partitions}
    dumps: dict[str, dict] = {}
    for (dump, field), n in totals:
        entry = dumps.setdefault(dump, {"files": 0, "documents": 0, "lines_in": 0, "lines_removed": 0,
                                        "removed_by_scope": {s: 0 if s in measured else None for s in scope.reported}})
        if field.startswith("removed:"):
            entry["removed_by_scope"][field[len("removed:"):]] += n
        else:
            entry[field] += n
    total = {k: sum(d[k] for d in dumps.values()) for k in ("files", "documents", "lines_in", "lines_removed")}
    total["removed_by_scope"] = {s: sum(d["removed_by_scope"][s] for d in dumps.values()) if s in measured else None
                                 for s in scope.reported}
    return {"source": source, "step": "line_dedup", "rule": rule, "scope": str(scope),
            "scopes": list(scope.reported), "dumps": dict(sorted(dumps.items())), "total": total,
            "not_measured": [s for s in scope.reported if s not in measured]}


def _file_totals(kv) -> Iterator[tuple[tuple[str, str], int]]:
    """One file's (documents, lines in, lines removed) -> its dump's totals."""
    segment, (documents, lines_in, removed) = kv
    dump = dump_of(segment)
    yield from (((dump, "files"), 1), ((dump, "documents"), documents), ((dump, "lines_in"), lines_in),
                ((dump, "lines_removed"), removed))


# ---------------------------------------------------------------------------- Beam

def entry_struct(scope: Scope, measure: bool) -> struct.Struct:
    """The bytes of a hash group's entry, ``(document key, copies, *tags)`` as :func:`scope_key`
    makes them (the tags only when ``measure``). Packed, an entry is one bytes object in the
    shuffle: the local runner holds every entry of the GroupByKey as a Python object, and a bytes
    object of 24 bytes takes a third of the memory of a tuple of four ints (and decodes faster)."""
    tags = {"run": "IQ", "dump": "Q"}.get(scope.kind, "") if measure else ""
    return struct.Struct(">QI" + tags)


def pack_decision(h: bytes, keep_first: bool) -> bytes:
    """A decision as it goes back to its document: the hash, then 1 (keep the first copy) or 0."""
    return h + (b"\x01" if keep_first else b"\x00")


def unpack_decision(data: bytes) -> tuple[bytes, bool]:
    return data[:-1], data[-1] == 1


class _EmitHashes(beam.DoFn):
    """doc -> main ``(key, (packed doc, joined hashes))`` and tagged ``(prefix + hash, packed
    entry)`` (:func:`entry_struct`)."""

    def __init__(self, scope: Scope, measure: bool):
        self.scope, self.measure = scope, measure

    def setup(self):
        self.entry = entry_struct(self.scope, self.measure)

    def process(self, doc: Document, groups=None):
        hashes = line_hashes(doc["text"])
        key = stable_hash(doc["id"])
        prefix, tags = scope_key(self.scope, segment_of(doc), groups)
        if not self.measure:
            tags = ()
        yield key, (pack(doc), b"".join(hashes))
        pack_entry = self.entry.pack
        for h, copies in copies_per_hash(hashes).items():
            yield beam.pvalue.TaggedOutput("hashes", (prefix + h, pack_entry(key, copies, *tags)))


class _DecidePerHash(beam.DoFn):
    """One hash group -> main ``(document key, packed decision)``, tagged ``removed`` totals."""

    def __init__(self, rule: str, scope: Scope, measure: bool):
        self.rule, self.scope, self.measure = rule, scope, measure

    def setup(self):
        self.entry = entry_struct(self.scope, self.measure)

    def process(self, kv):
        key, packed = kv
        entries = list(map(self.entry.unpack, packed))
        h = key[-HASH_BYTES:]
        for doc_key, keep_first in hash_decisions(entries, self.rule):
            yield doc_key, pack_decision(h, keep_first)
        if self.measure:
            for (dump, name), n in removals(key, entries, self.rule, self.scope).items():
                yield beam.pvalue.TaggedOutput("removed", ((dump, f"removed:{name}"), n))


class _Apply(beam.DoFn):
    """A document with its decisions -> its verdict; tagged per-file line counts when ``measure``."""

    def __init__(self, source: str, step: str, measure: bool):
        self.source, self.step, self.measure = source, step, measure

    def setup(self):
        self.counters = StepCounters(self.source, self.step, buffered=True)

    def finish_bundle(self):
        self.counters.flush()

    def process(self, element):
        _, grouped = element
        decisions = list(map(unpack_decision, grouped["decisions"]))
        for blob, joined in grouped["docs"]:
            doc = unpack(blob)
            hashes = [joined[i:i + HASH_BYTES] for i in range(0, len(joined), HASH_BYTES)]
            out, lines_in, blank, removed = _finish(doc, hashes, decisions)
            self.counters.inc("lines_in", lines_in)
            self.counters.inc("lines_blank", blank)
            self.counters.inc("lines_removed", removed)
            if isinstance(out, Drop):
                self.counters.inc("documents_emptied")
            yield doc, out
            if self.measure:
                yield beam.pvalue.TaggedOutput("files", (segment_of(doc), (1, lines_in, removed)))


class LineDedup(GlobalStep):
    """Line dedup within ``scope`` (see the module docstring); ``rule`` is ``ccnet`` or ``c4``;
    with ``stats_path``, the per-dump report is written there."""

    name = "line_dedup"

    def __init__(self, source: str, rule: str = "ccnet", name: str | None = None, scope: str | Scope = "run",
                 stats_path: str = ""):
        super().__init__(source, name)
        if rule not in RULES:
            raise ValueError(f"line dedup rule must be one of {RULES}, got {rule!r}")
        self.rule, self.scope, self.stats_path = rule, parse_scope(scope), stats_path

    def expand(self, docs) -> StepOutputs:
        rule, scope, measure = self.rule, self.scope, bool(self.stats_path)
        side = {}
        if scope.kind == "files":
            side["groups"] = beam.pvalue.AsSingleton(
                docs | "Files" >> beam.Map(segment_of) | "DistinctFiles" >> beam.Distinct()
                | "AllFiles" >> beam.combiners.ToList() | "FileGroups" >> beam.Map(file_groups, scope.files))
        keyed = docs | "Hash" >> beam.ParDo(_EmitHashes(scope, measure), **side).with_outputs("hashes", main="docs")
        decided = (keyed.hashes
                   | "GroupByHash" >> beam.GroupByKey()
                   | "DecidePerHash" >> beam.ParDo(_DecidePerHash(rule, scope, measure)).with_outputs(
                       "removed", main="decisions"))
        joined = {"docs": keyed.docs, "decisions": decided.decisions} | "JoinDecisions" >> beam.CoGroupByKey()
        applied = joined | "Apply" >> beam.ParDo(_Apply(self.source, self.name, measure)).with_outputs("files", main="verdicts")
        if measure:
            files = (applied.files | "PerFile" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum, sum))
                     | "PerDump" >> beam.FlatMap(_file_totals))
            ((files, decided.removed) | "Figures" >> beam.Flatten() | "SumFigures" >> beam.CombinePerKey(sum)
             | "AllFigures" >> beam.combiners.ToList() | "WriteReport" >> beam.Map(self._write_report))
        return self.decide(applied.verdicts)

    def _write_report(self, totals) -> None:
        fileio.write_json(self.stats_path, scope_report(self.source, self.rule, self.scope, totals))
