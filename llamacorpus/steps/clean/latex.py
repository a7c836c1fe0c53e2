"""LaTeX cleaning for arXiv papers, after Lewkowycz et al. (2022) as LLaMA-1 describes it: drop
everything before the first section and the bibliography after it, remove comments, and expand
the authors' own macros inline.

Pure functions on strings (each testable alone) and one :class:`LatexCleaner` mapper.

Order (:func:`clean_latex`), on a paper whose ``\\input``/``\\include`` are already resolved
(``llamacorpus.sources.arxiv`` strips each file's comments before resolving, so a commented-out
``\\input`` is not followed; the cleaner strips them again, which changes nothing then):

1. The title: the first ``\\title{...}`` before the first section, macros expanded, made plain.
2. The body starts at the first ``\\part``, ``\\chapter`` or ``\\section`` (starred too) after
   ``\\begin{document}`` (a ``\\renewcommand\\section`` in the preamble is not a section).
3. The body ends at the first of ``\\begin{thebibliography}``, ``\\begin{references}`` (AASTeX),
   ``\\bibliography{``, ``\\printbibliography``, a (starred) ``\\section`` or ``\\chapter``
   titled References, Bibliography or Literature Cited (pandoc's and JOSS's typeset reference
   lists), or ``\\end{document}``: everything from there to the end goes, so appendices after
   the bibliography go too, as the issue asks.
4. Macros: definitions in the preamble are collected, then the body is expanded the way TeX reads
   it (a definition in the body counts from where it stands and is removed from the text).

Comments: ``%`` to the end of the line unless escaped (``\\%``; ``\\\\%`` is a line break and
then a comment). A line holding only a comment goes with its newline, so paragraphs keep their
blank lines; a trailing comment leaves the newline (TeX would also join the lines, which only
matters for a word split across a line end). ``\\begin{comment}`` environments go too. Verbatim
text (``verbatim``, ``Verbatim``, ``BVerbatim``, ``lstlisting``, ``minted`` environments and
``\\verb``) is left exactly as written: no comment removal, no macro expansion; a user macro
whose argument spans a verbatim part is expanded with the argument cut at the verbatim part.

Macros defined by ``\\newcommand``, ``\\renewcommand``, ``\\providecommand``,
``\\DeclareRobustCommand`` (starred or not, with ``[n]`` arguments and an optional first argument
with its default), ``\\def``/``\\gdef``/``\\edef``/``\\xdef`` (``#1#2..`` parameters, with
``\\long``/``\\global``/``\\protected`` prefixes), ``\\let`` (an alias: it copies a user macro or
stands for the command it names) and ``\\DeclareMathOperator`` (``\\operatorname{...}``) are
expanded recursively. Arguments are read as TeX does: a brace group, or else one token.
Definitions that are TeX programming rather than text are *not* expanded and are listed in
``macros_unexpanded`` with a reason: a name with ``@`` (``internal``), a body using ``@`` names
or primitives such as ``\\expandafter``, ``\\ifx``, ``\\csname``, ``\\let`` (``programming``;
e.g. celerite's ``\\renewcommand\\section{\\@ifstar...}``, whose uses stay ``\\section``),
delimited ``\\def`` parameters (``delimited_parameters``) and redefinitions of structure commands
(``\\section``, ``\\begin``, ``\\item``... : ``protected``). Those uses stay as written: standard
LaTeX, which is what consistency across papers wants.

Expansion is bounded: a nesting depth (a self-referencing ``\\def\\a{\\a x}`` nests forever), a
number of expansions (``\\def\\a{x\\a}`` loops without nesting) and an output size (a multiple of
the input). Hitting a bound raises :class:`MacroExpansionError`; the mapper counts the paper as
an ``error:macro_expansion_limit`` with its id instead of hanging.
"""
from __future__ import annotations

import bisect
import contextlib
import contextvars
import dataclasses
import re
from array import array
from typing import Iterator

from llamacorpus.document import Document, replace
from llamacorpus.steps import BadInput, Drop, Mapper
from llamacorpus.steps.clean.budget import DEFAULT as DEFAULT_BUDGET
from llamacorpus.steps.clean.budget import CleanerBudget, CleanerBudgetExceeded, WorkMeter, budget_error, unlimited

# ---------------------------------------------------------------------------- comments and verbatim

_SCAN = re.compile(
    r"\\[\\%]"  # an escaped % (or \\ before a real comment): not a comment start
    r"|(?P<pct>%)"
    r"|\\begin\s*\{(?P<env>verbatim\*?|Verbatim\*?|BVerbatim|lstlisting|minted|comment)\}"
    r"|\\verb\*?(?P<delim>[^A-Za-z\s*])")


def segments(text: str) -> Iterator[tuple[str, str]]:
    """Split LaTeX into ``(kind, text)`` parts, kind one of ``text``, ``verbatim``, ``comment``
    (``%`` to the end of the line, newline excluded) and ``comment_env``; joined they give
    ``text`` back."""
    pos = search = 0
    n = len(text)
    line_end = -1  # the end of the line holding the last \\verb looked at
    no_close: set[str] = set()  # \\verb delimiters with no closing one before line_end
    while True:
        m = _SCAN.search(text, search)
        if m is None:
            break
        if m.group("pct") is not None:
            end = text.find("\n", m.start())
            end = n if end < 0 else end
            yield "text", text[pos:m.start()]
            yield "comment", text[m.start():end]
        elif m.group("env") is not None:
            close = "\\end{%s}" % m.group("env")
            end = text.find(close, m.end())
            end = n if end < 0 else end + len(close)
            yield "text", text[pos:m.start()]
            yield ("comment_env" if m.group("env") == "comment" else "verbatim"), text[m.start():end]
        elif m.group("delim") is not None:
            delim = m.group("delim")
            if line_end < m.end():
                line_end = text.find("\n", m.end())
                line_end = n if line_end < 0 else line_end
                no_close.clear()
            close = -1 if delim in no_close else text.find(delim, m.end(), line_end)
            if close < 0:  # not a \verb after all (its text would end the line)
                no_close.add(delim)
                search = m.end()
                continue
            end = close + 1
            yield "text", text[pos:m.start()]
            yield "verbatim", text[m.start():end]
        else:  # an escape: keep scanning after it
            search = m.end()
            continue
        pos = search = end
    yield "text", text[pos:]


def strip_comments(text: str) -> str:
    """LaTeX without its comments (see the module docstring for what counts as one)."""
    parts: list[str] = []
    drop_newline = False
    line_blank = True  # the output after its last newline is only whitespace
    for kind, part in segments(text):
        if kind == "comment":
            if line_blank:  # the line holds only the comment: drop the line
                if parts:
                    parts[-1] = parts[-1][:parts[-1].rfind("\n") + 1]
                drop_newline = True
            continue
        if kind == "comment_env":
            continue
        if drop_newline and part.startswith("\n"):
            part = part[1:]
        drop_newline = False
        parts.append(part)
        newline = part.rfind("\n")
        if newline >= 0:
            line_blank = not part[newline + 1:].strip()
        elif line_blank and part.strip():
            line_blank = False
    return "".join(parts)


# ---------------------------------------------------------------------------- groups and arguments

_CS = re.compile(r"\\(?:[A-Za-z]+|.)", re.S)  # a control sequence as the body reads it
_CS_NAME = re.compile(r"\\([A-Za-z@]+|[^A-Za-z@])", re.S)  # as a definition names it (@ is a letter there)
_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.S)
_BRACKET_TOKENS = re.compile(r"\\.|[{}\]]", re.S)
_ANY_WHITESPACE = 1 << 30


class _NeedMore(Exception):
    """The text ended inside a construct: the caller joins the text that follows and retries."""


#: a group is looked for this far by scanning; past it, in the string's groups matched once
DIRECT_SCAN_CHARS = 512
#: characters a C-level find (str.find) looks at per work unit
FIND_CHARS_PER_UNIT = 16
_GROUP_TOKENS = re.compile(r"\\[\\{}\]]|[{}\]]")  # escaped ones (two characters) are skipped
_OPEN, _CLOSE, _BRACKET = ord("{"), ord("}"), ord("]")


class _Scan:
    """The paper being cleaned, for the scanning functions: its work meter and the group tables
    of its strings (per paper and per thread, so that neither the work counted nor the tables
    depend on other papers cleaned at the same time)."""

    __slots__ = ("meter", "tables")

    def __init__(self, meter: WorkMeter):
        self.meter, self.tables = meter, {}


_PAPER: contextvars.ContextVar[_Scan | None] = contextvars.ContextVar("latex_scan", default=None)
#: group tables a paper keeps (its text, and the longest chunks being expanded)
KEPT_TABLES = 8


def _charge(units: int) -> None:
    """Charge scanning work to the meter of the paper being cleaned (:func:`_scanning`)."""
    scan = _PAPER.get()
    if scan is not None:
        scan.meter.spend(units)


@contextlib.contextmanager
def _scanning(meter: WorkMeter):
    """Scans inside the block charge ``meter`` and share the paper's tables (a block inside
    another with the same meter keeps the outer one's)."""
    outer = _PAPER.get()
    if outer is not None and outer.meter is meter:
        yield
        return
    token = _PAPER.set(_Scan(meter))
    try:
        yield
    finally:
        _PAPER.reset(token)


class _Groups:
    """The braces and closing brackets of one string, matched in one linear pass, so that finding
    the end of a group costs a binary search however often it is asked and however the group
    ends (an unclosed ``{`` asked about at every ``\\def`` made the cleaner quadratic).

    ``pos``: the unescaped ``{``, ``}`` and ``]`` in order (``kinds`` says which); ``match[k]``:
    for a ``{``, the token index of its ``}`` (-1: never closed); ``bracket[k]``: the end of the
    ``]`` that a search starting at token ``k`` finds outside braces (-1: a ``}`` or an unclosed
    ``{`` comes first); ``opens``: the positions of the ``{``."""

    __slots__ = ("pos", "kinds", "match", "bracket", "opens")

    def __init__(self, s: str):
        tokens = [(m.start(), m.group()) for m in _GROUP_TOKENS.finditer(s)]
        tokens = [(start, t) for start, t in tokens if len(t) == 1]
        _charge(len(s) + TOKEN_UNITS * len(tokens))
        pos = array("q", [start for start, _ in tokens])
        kinds = bytearray(ord(t) for _, t in tokens)
        n = len(pos)
        match = array("q", [-1]) * n
        stack = []
        for k in range(n):
            kind = kinds[k]
            if kind == _OPEN:
                stack.append(k)
            elif kind == _CLOSE and stack:
                match[stack.pop()] = k
        bracket = array("q", [-1]) * (n + 1)
        for k in range(n - 1, -1, -1):
            kind = kinds[k]
            if kind == _BRACKET:
                bracket[k] = pos[k] + 1
            elif kind == _OPEN and match[k] >= 0:
                bracket[k] = bracket[match[k] + 1]
        self.pos, self.kinds, self.match, self.bracket = pos, kinds, match, bracket
        self.opens = array("q", (pos[k] for k in range(n) if kinds[k] == _OPEN))


def _groups(s: str) -> _Groups:
    """The group table of ``s``, built once per paper (outside one, every time)."""
    scan = _PAPER.get()
    if scan is None:
        return _Groups(s)
    kept = scan.tables.get(id(s))
    if kept is not None and kept[0] is s:
        return kept[1]
    groups = _Groups(s)
    if len(scan.tables) >= KEPT_TABLES:
        scan.tables.pop(next(iter(scan.tables)))
    scan.tables[id(s)] = (s, groups)
    return groups


def brace_end(s: str, p: int) -> int:
    """``s[p]`` is ``{``: the index after its matching ``}``, or -1 when ``s`` ends first. Groups
    that close within :data:`DIRECT_SCAN_CHARS` are found by scanning; others from the string's
    :class:`_Groups`, built once. What is scanned is charged (:func:`_charge`)."""
    stop = min(len(s), p + DIRECT_SCAN_CHARS)
    _charge((stop - p) // FIND_CHARS_PER_UNIT)
    if s.find("}", p, stop) >= 0:  # else it cannot close in the window: no token loop
        end = _scan_brace_end(s, p, stop)
        if end >= 0:
            return end
    if stop == len(s):
        return -1
    g = _groups(s)
    k = bisect.bisect_left(g.pos, p)
    if k < len(g.pos) and g.pos[k] == p and g.kinds[k] == _OPEN:
        m = g.match[k]
        return g.pos[m] + 1 if m >= 0 else -1
    return _scan_brace_end(s, p, len(s))  # a brace the table does not know (an escaped one): scan


def _scan_brace_end(s: str, p: int, stop: int) -> int:
    depth = 0
    for m in _BRACE_TOKENS.finditer(s, p, stop):
        t = m.group()
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth == 0:
                _charge(m.end() - p)
                return m.end()
    _charge(stop - p)
    return -1


def _bracket_end(s: str, p: int) -> int:
    """``s[p]`` is ``[``: the index after the ``]`` that closes it outside braces, or -1 (a ``}``
    closing a group around the ``[`` ends the search: an optional argument stays in its group)."""
    stop = min(len(s), p + 1 + DIRECT_SCAN_CHARS)
    _charge((stop - p) // FIND_CHARS_PER_UNIT)
    endable = s.find("]", p + 1, stop) >= 0 or s.find("}", p + 1, stop) >= 0  # else no token loop
    depth = 0
    for m in _BRACKET_TOKENS.finditer(s, p + 1, stop if endable else p + 1):
        t = m.group()
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth < 0:
                _charge(m.end() - p)
                return -1
        elif t == "]" and depth == 0:
            _charge(m.end() - p)
            return m.end()
    if endable:
        _charge(stop - p)
    if stop == len(s):
        return -1
    g = _groups(s)
    return g.bracket[bisect.bisect_left(g.pos, p + 1)]


def _next_open(s: str, p: int) -> int:
    """The first unescaped ``{`` at or after ``s[p]``, or -1."""
    stop = min(len(s), p + DIRECT_SCAN_CHARS)
    for m in _BRACE_TOKENS.finditer(s, p, stop):
        if m.group() == "{":
            _charge(m.end() - p)
            return m.start()
    _charge(stop - p)
    if stop == len(s):
        return -1
    opens = _groups(s).opens
    k = bisect.bisect_left(opens, p)
    return opens[k] if k < len(opens) else -1


def _skip_space(s: str, p: int, newlines: int = 1) -> int:
    """Skip spaces and tabs and at most ``newlines`` newlines (a blank line ends an argument search)."""
    n = len(s)
    while p < n:
        c = s[p]
        if c == " " or c == "\t":
            p += 1
        elif c == "\n" and newlines > 0:
            newlines -= 1
            p += 1
        else:
            break
    return p


def _more(final: bool, value):
    if final:
        return value
    raise _NeedMore


def read_argument(s: str, p: int, final: bool = True, newlines: int = 1) -> tuple[str, int]:
    """One undelimited TeX argument at or after ``s[p]``: a brace group (without its braces), a
    control sequence or one character. Returns ``(argument, end)``. A group that never closes
    (TeX's runaway argument) is an empty argument, its ``{`` dropped: the text after it is read
    as text, never swallowed (as an argument that is read again it made unclosed calls quadratic)."""
    p = _skip_space(s, p, newlines)
    if p >= len(s):
        return _more(final, ("", p))
    c = s[p]
    if c == "{":
        end = brace_end(s, p)
        if end < 0:
            return _more(final, ("", p + 1))
        return s[p + 1:end - 1], end
    if c == "\\":
        m = _CS.match(s, p)
        if m is None:
            return _more(final, ("", len(s)))
        return m.group(), m.end()
    if c == "}":  # no argument before the group closes (TeX would complain): an empty one
        return "", p
    return c, p + 1


def _read_optional(s: str, p: int, final: bool, newlines: int = 1) -> tuple[str | None, int]:
    """An optional ``[...]`` argument at or after ``s[p]``: ``(content or None, end)``."""
    q = _skip_space(s, p, newlines)
    if q >= len(s):
        return _more(final, (None, p))
    if s[q] != "[":
        return None, p
    end = _bracket_end(s, q)
    if end < 0:
        return _more(final, (None, p))
    return s[q + 1:end - 1], end


def _read_name(s: str, p: int, final: bool) -> tuple[str | None, int]:
    """The macro a definition names: ``\\name`` or ``{\\name}``."""
    p = _skip_space(s, p, _ANY_WHITESPACE)
    if p >= len(s):
        return _more(final, (None, p))
    if s[p] == "{":
        end = brace_end(s, p)
        if end < 0:
            return _more(final, (None, p))
        m = _CS_NAME.fullmatch(s[p + 1:end - 1].strip())
        return (m.group(1) if m else None), end
    m = _CS_NAME.match(s, p)
    if m is None:
        return _more(final, (None, p)) if s[p] == "\\" else (None, p)
    return m.group(1), m.end()


# ---------------------------------------------------------------------------- macro definitions

@dataclasses.dataclass(frozen=True)
class Macro:
    name: str
    nargs: int = 0
    default: str | None = None  # the default of an optional first argument (\newcommand[n][default])
    body: str = ""


#: commands whose redefinition is layout, not text: their uses are kept as written
PROTECTED = frozenset({
    "part", "chapter", "section", "subsection", "subsubsection", "paragraph", "subparagraph",
    "begin", "end", "item", "input", "include", "appendix", "bibliography", "printbibliography",
    "documentclass", "usepackage", "title", "maketitle", "newcommand", "renewcommand",
    "providecommand", "def", "let"})
_PROGRAMMING = re.compile(
    r"\\(?:[A-Za-z]*@[A-Za-z@]*|expandafter|csname|endcsname|noexpand|futurelet|afterassignment"
    r"|ifx|ifmmode|ifnum|ifdim|ifcase|ifdefined|ifcsname|if|else|fi|or|let|def|edef|gdef|xdef"
    r"|global|catcode|makeatletter|makeatother|aftergroup)(?![A-Za-z])")
_ARG_AFTER_WORD = re.compile(r"(\\[A-Za-z]+)(?=#[1-9])")
_PARAM = re.compile(r"#(#|[1-9])")
_TRAILING_WORD = re.compile(r"\\[A-Za-z]+$")


def unexpandable_reason(macro: Macro) -> str | None:
    """Why a definition is kept as written rather than expanded (None: expand it)."""
    if macro.name in PROTECTED:
        return "protected"
    if "@" in macro.name:
        return "internal"
    if _PROGRAMMING.search(macro.body) or (macro.default and _PROGRAMMING.search(macro.default)):
        return "programming"
    return None


class MacroTable:
    """The user macros in force, and the definitions left unexpanded (name -> reason)."""

    def __init__(self):
        self.macros: dict[str, Macro] = {}
        self.unexpanded: dict[str, str] = {}
        self.defined = 0

    def define(self, macro: Macro, provide: bool = False) -> None:
        self.defined += 1
        if provide and (macro.name in self.macros or macro.name in self.unexpanded):
            return
        reason = unexpandable_reason(macro)
        if reason:
            self.macros.pop(macro.name, None)
            self.unexpanded[macro.name] = reason
            return
        # a control word right before #n must stay one token when the argument starts with a letter
        body = _ARG_AFTER_WORD.sub(r"\1 ", macro.body) if macro.nargs else macro.body
        self.macros[macro.name] = Macro(macro.name, macro.nargs, macro.default, body)
        self.unexpanded.pop(macro.name, None)

    def alias(self, name: str, target: str, target_is_cs: bool) -> None:
        """``\\let\\name=target``: a copy of a user macro, or the command (or character) it names."""
        if target_is_cs and target in self.macros:
            self.define(dataclasses.replace(self.macros[target], name=name))
        elif target_is_cs and target in self.unexpanded:
            self.defined += 1
            self.macros.pop(name, None)
            self.unexpanded[name] = self.unexpanded[target]
        else:
            self.define(Macro(name, 0, None, f"\\{target}" if target_is_cs else target))

    def reject(self, name: str, reason: str) -> None:
        self.defined += 1
        self.macros.pop(name, None)
        self.unexpanded[name] = reason


_NEWCOMMAND = re.compile(r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand)(?![A-Za-z@])\s*\*?")
_TEXDEF = re.compile(r"(?:\\(?:long|global|protected|outer)(?![A-Za-z@])\s*+){0,8}+\\[gex]?def(?![A-Za-z@])")
_LET = re.compile(r"(?:\\global(?![A-Za-z@])\s*)?\\let(?![A-Za-z@])")
_MATHOP = re.compile(r"\\DeclareMathOperator(?![A-Za-z@])\s*(\*?)")
_DEF_PARAMS = re.compile(r"\s*((?:#[1-9]\s*)*)")
#: control words that may start a definition (the expander tries to parse one there)
DEFINERS = frozenset({"newcommand", "renewcommand", "providecommand", "DeclareRobustCommand",
                      "DeclareMathOperator", "def", "gdef", "edef", "xdef", "let", "long",
                      "global", "protected", "outer"})


def parse_definition(s: str, p: int, table: MacroTable, final: bool = True) -> int | None:
    """If a definition starts at ``s[p]`` (a backslash), record it in ``table`` and return the
    index after it; None when there is no definition there (``\\global\\advance...``).
    Raises _NeedMore when ``s`` ends inside the definition and ``final`` is False."""
    m = _NEWCOMMAND.match(s, p)
    if m:
        name, q = _read_name(s, m.end(), final)
        if name is None:
            return None
        nargs_text, q = _read_optional(s, q, final, _ANY_WHITESPACE)
        nargs = int(nargs_text.strip()) if nargs_text and nargs_text.strip().isdigit() else 0
        default = None
        if nargs_text is not None:
            default, q = _read_optional(s, q, final, _ANY_WHITESPACE)
        body, q = read_argument(s, q, final, _ANY_WHITESPACE)
        table.define(Macro(name, min(nargs, 9), default, body), provide=m.group(1) == "providecommand")
        return q
    m = _TEXDEF.match(s, p)
    if m:
        name, q = _read_name(s, m.end(), final)
        if name is None:
            return None
        brace = _next_open(s, q)
        if brace < 0:
            return _more(final, None)
        end = brace_end(s, brace)
        if end < 0:
            return _more(final, None)
        params = _DEF_PARAMS.fullmatch(s, q, brace)
        numbers = re.findall(r"#([1-9])", params.group(1)) if params else None
        if numbers is None or numbers != [str(i) for i in range(1, len(numbers) + 1)]:
            table.reject(name, "delimited_parameters")
        else:
            table.define(Macro(name, len(numbers), None, s[brace + 1:end - 1]))
        return end
    m = _LET.match(s, p)
    if m:
        name, q = _read_name(s, m.end(), final)
        if name is None:
            return None
        q = _skip_space(s, q, _ANY_WHITESPACE)
        if q < len(s) and s[q] == "=":
            q = _skip_space(s, q + 1, 1)
        if q >= len(s):
            return _more(final, None)
        target = _CS_NAME.match(s, q)
        if target:
            table.alias(name, target.group(1), True)
            return target.end()
        table.alias(name, s[q], False)
        return q + 1
    m = _MATHOP.match(s, p)
    if m:
        name, q = _read_name(s, m.end(), final)
        if name is None:
            return None
        text, q = read_argument(s, q, final, _ANY_WHITESPACE)
        table.define(Macro(name, 0, None, f"\\operatorname{m.group(1)}{{{text}}}"))
        return q
    return None


_DEFINER_START = re.compile(r"\\(?:%s)(?![A-Za-z@])" % "|".join(sorted(DEFINERS, key=len, reverse=True)))


def collect_definitions(text: str, table: MacroTable, meter: WorkMeter | None = None) -> None:
    """Record every macro definition in ``text`` (a preamble) without expanding anything; each
    definition tried is charged to ``meter`` (:data:`DEFINITION_UNITS`)."""
    meter = meter or (_PAPER.get().meter if _PAPER.get() else unlimited())
    with _scanning(meter):
        for kind, part in segments(text):
            if kind == "text":
                pos = 0
                while True:
                    m = _DEFINER_START.search(part, pos)
                    if m is None:
                        break
                    meter.spend(DEFINITION_UNITS)
                    end = parse_definition(part, m.start(), table, final=True)
                    pos = end if end is not None and end > m.start() else m.end()


# ---------------------------------------------------------------------------- expansion

@dataclasses.dataclass(frozen=True)
class MacroLimits:
    max_depth: int = 64  # nested expansions in progress
    max_expansions: int = 100_000  # expansions per paper
    max_growth: float = 8.0  # output chars at most max_growth x input chars + GROWTH_SLACK


GROWTH_SLACK = 100_000
#: characters of the text below first joined to a macro call that needs its arguments from there
JOIN_WINDOW = 64
#: work units per token the expander reads (a control sequence, a definition, a macro call), on
#: top of the characters of every chunk: a token costs a Python loop, a character a C scan
TOKEN_UNITS = 10
TOKENS_PER_CHARGE = 256
#: work units per definition parsed (a definition costs tens of Python calls)
DEFINITION_UNITS = 200


class MacroExpansionError(Exception):
    """A macro expansion went past a bound (depth, count or output size)."""

    kind = "macro_expansion_limit"


class _Expander:
    """Expands user macros the way TeX reads them: the expansion of a macro is read again, so a
    macro may take its arguments from the text after it. Pending text is a stack of chunks
    ``[text, position, depth]`` (one per expansion in progress), so an expansion costs the size
    of its body, not of the paper. When a chunk ends inside a macro call (``\\newcommand\\vec{\\mathbf}``
    then ``\\vec x``), the call is joined with a window of the text below it, doubled on each
    retry: a call costs its own length, never the rest of the paper.

    Every chunk is charged to the work meter as it is made (the body pushed, the window joined),
    and every token read (:data:`TOKEN_UNITS`); scans inside a chunk cost a bounded multiple of
    its length (:class:`_Groups`)."""

    def __init__(self, table: MacroTable, limits: MacroLimits, input_chars: int, meter: WorkMeter):
        self.table, self.limits, self.meter = table, limits, meter
        self.expansions = 0
        self.out_chars = 0
        self.max_chars = int(limits.max_growth * input_chars) + GROWTH_SLACK

    def expand(self, text: str) -> str:
        out: list[str] = []
        after_word = False  # the last piece out ended with a control word
        self.meter.spend(len(text))
        stack = [[text, 0, 1]]
        tokens = 0
        while stack:
            tokens += 1
            if tokens == TOKENS_PER_CHARGE:  # each token read costs a Python loop: charged in batches
                self.meter.spend(TOKENS_PER_CHARGE * TOKEN_UNITS)
                tokens = 0
            frame = stack[-1]
            s, i, depth = frame
            j = s.find("\\", i)
            piece = s[i:] if j < 0 else s[i:j]
            if piece:
                if after_word and piece[0].isalpha():
                    out.append(" ")
                out.append(piece)
                after_word = False
                self._grow(len(piece))
            if j < 0:
                stack.pop()
                continue
            m = _CS.match(s, j)
            if m is None:  # a lone backslash at the end of a chunk
                out.append("\\")
                stack.pop()
                continue
            token = m.group()
            name = token[1:]
            try:
                if name in DEFINERS:
                    self.meter.spend(DEFINITION_UNITS)
                    end = parse_definition(s, j, self.table, final=len(stack) == 1)
                    if end is not None:
                        frame[1] = end
                        continue
                macro = self.table.macros.get(name)
                if macro is None:
                    out.append(token)
                    after_word = name.isalpha()
                    self._grow(len(token))
                    frame[1] = m.end()
                    continue
                body, end = self._call(macro, s, m.end(), final=len(stack) == 1)
            except _NeedMore:
                self._join_below(stack, j)
                continue
            frame[1] = end
            if end >= len(s):
                stack.pop()  # nothing left in this chunk: a tail call does not nest
            else:
                depth += 1
                if _TRAILING_WORD.search(body) and s[end].isalpha():
                    body += " "
            self.expansions += 1
            if self.expansions > self.limits.max_expansions:
                raise MacroExpansionError(f"more than {self.limits.max_expansions} macro expansions "
                                          f"(last: \\{name})")
            if depth > self.limits.max_depth:
                raise MacroExpansionError(f"macro nesting deeper than {self.limits.max_depth} "
                                          f"(at \\{name})")
            self.meter.spend(len(body))
            stack.append([body, 0, depth])
        return "".join(out)

    def _join_below(self, stack: list, j: int) -> None:
        """The top chunk ends inside the construct at ``j``: join it with the next piece of the
        chunk below (twice the length of what is joined, at least :data:`JOIN_WINDOW`), at the
        depth of that chunk; a chunk used up leaves the stack."""
        top = stack.pop()
        below = stack[-1]
        rest = top[0][j:]
        text, b = below[0], below[1]
        e = b + max(JOIN_WINDOW, 2 * len(rest))
        last = text.rfind("\\", b, e)
        if last >= 0:  # never cut a control sequence in two
            cs = _CS.match(text, last)
            e = max(e, cs.end() if cs else last + 1)
        window = text[b:e]
        below[1] = b + len(window)
        if below[1] >= len(below[0]):
            stack.pop()
        joined = rest + window
        self.meter.spend(len(joined))
        stack.append([joined, 0, below[2]])

    def _grow(self, n: int) -> None:
        self.out_chars += n
        if self.out_chars > self.max_chars:
            raise MacroExpansionError(f"macro expansion grew the text past {self.max_chars} characters")

    @staticmethod
    def _call(macro: Macro, s: str, p: int, final: bool) -> tuple[str, int]:
        """Read the macro's arguments at ``s[p:]``: ``(substituted body, end of the call)``."""
        if macro.nargs == 0:
            return macro.body, p
        args = []
        mandatory = macro.nargs
        if macro.default is not None:
            optional, p = _read_optional(s, p, final)
            args.append(macro.default if optional is None else optional)
            mandatory -= 1
        for _ in range(mandatory):
            arg, p = read_argument(s, p, final)
            args.append(arg)

        def substitute(m):
            t = m.group(1)
            if t == "#":
                return "#"
            k = int(t) - 1
            return args[k] if k < len(args) else m.group()

        return _PARAM.sub(substitute, macro.body), p


def expand_macros(text: str, table: MacroTable, limits: MacroLimits = MacroLimits(),
                  meter: WorkMeter | None = None) -> tuple[str, int]:
    """``text`` with user macros expanded (verbatim parts untouched) and the definitions in it
    removed; returns ``(text, number of expansions)``. Raises :class:`MacroExpansionError`, and
    :class:`CleanerBudgetExceeded` when ``meter`` runs out."""
    meter = meter or (_PAPER.get().meter if _PAPER.get() else unlimited())
    expander = _Expander(table, limits, len(text), meter)
    with _scanning(meter):
        out = [part if kind != "text" else expander.expand(part) for kind, part in segments(text)]
    return "".join(out), expander.expansions


# ---------------------------------------------------------------------------- cutting and the title

#: an optional argument of \\title or of a note is looked for this far (a longer one is not one)
MAX_OPTION_CHARS = 2000
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_SECTION = re.compile(r"\\(?:part|chapter|section)(?![A-Za-z@])\s*+\*?\s*+[\[{]")
_BIBLIOGRAPHY = re.compile(
    r"\\begin\s*\{(?:thebibliography|references)\}|\\bibliography(?![A-Za-z@])\s*\{"
    r"|\\printbibliography(?![A-Za-z@])|\\end\s*\{document\}"
    r"|\\(?:chapter|section)\s*+\*?\s*+\{\s*+(?i:references|bibliography|literature\s++cited)\s*+\}")
_BIBSTYLE = re.compile(r"\\bibliographystyle\s*\{[^{}]*\}")
_TITLE = re.compile(r"\\title(?![A-Za-z@])\s*+(?:\[[^\]]{0,%d}+\])?+\s*+(?=\{)" % MAX_OPTION_CHARS)


def body_span(text: str) -> tuple[int, int] | None:
    """``(start, end)`` of the body: from the first part/chapter/section after
    ``\\begin{document}`` to the bibliography or ``\\end{document}``; None without a section."""
    begin = _BEGIN_DOCUMENT.search(text)
    start = _SECTION.search(text, begin.end() if begin else 0)
    if start is None:
        return None
    end = _BIBLIOGRAPHY.search(text, start.end())
    return start.start(), end.start() if end else len(text)


def find_title(text: str) -> str | None:
    """The raw argument of the first ``\\title{...}`` in ``text``."""
    m = _TITLE.search(text)
    if m is None:
        return None
    end = brace_end(text, m.end())
    return text[m.end() + 1:end - 1] if end > 0 else None


_DROP_WITH_ARGUMENT = re.compile(
    r"\\(?:thanks|footnote|footnotemark|vspace|hspace|label|altaffilmark|inst|tnoteref|fnref)"
    r"(?![A-Za-z])\s*+\*?\s*+(?:\[[^\]]{0,%d}+\])?+\s*+(?=\{)" % MAX_OPTION_CHARS)
_ESCAPED = re.compile(r"\\([&%$#_{}])")


def plain_inline(latex: str) -> str:
    """A short piece of LaTeX (a title) as plain text: notes and spacing dropped, commands
    unwrapped, line breaks and ties made spaces; math is kept between its dollars."""
    kept, pos = [], 0
    for m in _DROP_WITH_ARGUMENT.finditer(latex):
        if m.start() < pos:  # inside a note already dropped
            continue
        kept.append(latex[pos:m.start()])
        end = brace_end(latex, m.end())
        pos = end if end > 0 else len(latex)
    latex = "".join(kept) + latex[pos:]
    latex = latex.replace("\\\\", " ").replace("~", " ")
    pieces = re.split(r"(\$[^$]*\$)", latex)
    for k in range(0, len(pieces), 2):  # outside math
        text = _ESCAPED.sub(lambda m: "\x00" + m.group(1), pieces[k])
        text = re.sub(r"\\[A-Za-z]+\*?|\\.|[{}]", " ", text)
        pieces[k] = text.replace("\x00", "")
    return " ".join("".join(pieces).split())


# ---------------------------------------------------------------------------- the whole cleaning

@dataclasses.dataclass
class CleanedPaper:
    text: str
    title: str | None
    macros_defined: int
    macros_expanded: int
    macros_unexpanded: dict[str, str]


def tidy(text: str) -> str:
    """Trailing spaces off every line, at most one blank line in a row, no blank edges."""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def clean_latex(text: str, limits: MacroLimits = MacroLimits(), meter: WorkMeter | None = None) -> CleanedPaper | None:
    """A paper, its inputs resolved, as its cleaned body (None: it has no section). Comments are
    stripped again (a no-op on what the arXiv reader gives). Raises :class:`MacroExpansionError`,
    and :class:`CleanerBudgetExceeded` when ``meter`` runs out."""
    meter = meter or unlimited()
    meter.spend(len(text))
    with _scanning(meter):
        text = strip_comments(text)
        span = body_span(text)
        if span is None:
            return None
        start, end = span
        preamble = text[:start]
        meter.spend(len(preamble))
        table = MacroTable()
        collect_definitions(preamble, table, meter)
        raw_title = find_title(preamble)
        title = None
        if raw_title is not None:
            title_table = MacroTable()
            title_table.macros = dict(table.macros)
            title = plain_inline(expand_macros(raw_title, title_table, limits, meter)[0]) or None
        body = _BIBSTYLE.sub("", text[start:end])
        body, expanded = expand_macros(body, table, limits, meter)
        meter.spend(len(body))
        return CleanedPaper(tidy(body), title, table.defined, expanded, dict(sorted(table.unexpanded.items())))


class LatexCleaner(Mapper):
    """A resolved arXiv paper -> its body, cleaned (:func:`clean_latex`).

    Meta added: ``title`` (when found), ``macros_defined``, ``macros_expanded`` and
    ``macros_unexpanded`` (name -> reason). A paper without a section is dropped
    (``no_section``); a macro expansion past its bounds is an ``error:macro_expansion_limit``
    carrying the paper id, and a paper past its work budget (:mod:`llamacorpus.steps.clean.budget`)
    an ``error:cleaner_budget``.
    """

    name = "latex_clean"

    def __init__(self, limits: MacroLimits = MacroLimits(), budget: CleanerBudget = DEFAULT_BUDGET):
        self.limits, self.budget = limits, budget

    def map(self, doc: Document) -> Document | Drop | BadInput:
        try:
            cleaned = clean_latex(doc["text"], self.limits, self.budget.meter(len(doc["text"])))
        except CleanerBudgetExceeded as exc:
            return budget_error(doc, exc, self.name)
        except MacroExpansionError as exc:
            return BadInput(MacroExpansionError.kind, doc["meta"].get("location", doc["id"]), str(exc), doc["id"])
        if cleaned is None:
            return Drop("no_section", doc)
        meta = dict(doc["meta"])
        if cleaned.title:
            meta["title"] = cleaned.title
        meta.update(macros_defined=cleaned.macros_defined, macros_expanded=cleaned.macros_expanded,
                    macros_unexpanded=cleaned.macros_unexpanded)
        return replace(doc, text=cleaned.text, meta=meta)
