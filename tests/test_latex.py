"""LaTeX cleaning: comments, verbatim, cutting, macro expansion and its bounds (pure functions),
and the work it takes: linear in the paper, bounded by the budget (work is counted, not timed)."""
import pytest

from helpers import FIXTURES
from llamacorpus.document import make_document
from llamacorpus.steps.clean.latex import (LatexCleaner, MacroExpansionError, MacroLimits, MacroTable, body_span,
                                       clean_latex, collect_definitions, expand_macros, find_title,
                                       plain_inline, strip_comments)
from llamacorpus.steps import BadInput, Drop, run_steps
from llamacorpus.steps.clean.budget import CleanerBudget, WorkMeter

CELERITE = FIXTURES / "arxiv" / "arxiv-1703.09710-celerite" / "ms.tex"


def expand(definitions: str, text: str, limits: MacroLimits = MacroLimits()) -> str:
    table = MacroTable()
    collect_definitions(definitions, table)
    return expand_macros(text, table, limits)[0]


# ---------------------------------------------------------------------------- comments

def test_comments_go_but_escaped_percent_stays():
    text = "A 50\\% rise % the comment\nnext line\n"
    assert strip_comments(text) == "A 50\\% rise \nnext line\n"


def test_double_backslash_then_percent_is_a_comment():
    assert strip_comments("row one \\\\% note\nrow two") == "row one \\\\\nrow two"


def test_comment_only_lines_vanish_with_their_newline_keeping_paragraphs():
    text = "First paragraph.\n  % an aside\n% another\n\nSecond paragraph.\n"
    assert strip_comments(text) == "First paragraph.\n\nSecond paragraph.\n"


def test_verbatim_and_verb_keep_their_percent_signs_and_comment_env_goes():
    text = ("\\begin{verbatim}\nx = 5 % 3  # modulo\n\\end{verbatim}\n"
            "Use \\verb|a % b| here. % gone\n"
            "\\begin{comment}\nhidden % text\n\\end{comment}\nend")
    out = strip_comments(text)
    assert "x = 5 % 3  # modulo" in out
    assert "\\verb|a % b| here. \n" in out
    assert "hidden" not in out and "gone" not in out
    assert out.endswith("\nend")


def test_a_comment_after_verbatim_on_the_same_line_keeps_the_line():
    assert strip_comments("x \\verb|a| % c\nnext") == "x \\verb|a| \nnext"


def test_commented_verbatim_start_is_just_a_comment():
    assert strip_comments("a % \\begin{verbatim}\nb % c\n") == "a \nb \n"


# ---------------------------------------------------------------------------- cutting

def test_body_starts_at_first_section_after_begin_document_not_at_a_redefinition():
    text = ("\\documentclass{article}\n\\renewcommand\\section{\\@ifstar{\\a}{\\b}}\n"
            "\\begin{document}\n\\maketitle\n\\begin{abstract}x\\end{abstract}\n"
            "\\section*{Intro}\nBody.\n\\bibliography{refs}\n\\appendix\n\\section{A}\n\\end{document}\n")
    start, end = body_span(text)
    assert text[start:end] == "\\section*{Intro}\nBody.\n"


@pytest.mark.parametrize("heading", ["\\chapter{One}", "\\part{One}", "\\section[short]{One}", "\\chapter*{One}"])
def test_chapter_and_part_start_the_body_too(heading):
    text = f"\\documentclass{{book}}\\begin{{document}}front\n{heading}\ntext\n\\end{{document}}"
    start, end = body_span(text)
    assert text[start:end].startswith(heading) and text[start:end].rstrip().endswith("text")


@pytest.mark.parametrize("bibliography", [
    "\\begin{thebibliography}{9}\\bibitem{x} X.\\end{thebibliography}",
    "\\bibliography{refs,more}", "\\printbibliography", "\\begin{references}\\reference X\\end{references}",
    "\\section*{References}\nX. (2019).", "\\section{Bibliography}\nX."])
def test_bibliography_and_everything_after_it_goes(bibliography):
    text = f"\\begin{{document}}\\section{{A}}\nBody.\n{bibliography}\n\\appendix\\section{{B}}Late.\n\\end{{document}}"
    start, end = body_span(text)
    assert text[start:end] == "\\section{A}\nBody.\n"


def test_no_section_means_no_body():
    assert body_span("\\documentclass{article}\\begin{document}Just a note.\\end{document}") is None
    paper = make_document("arxiv", "x", "\\documentclass{article}\\begin{document}Note.\\end{document}")
    out = LatexCleaner().map(paper)
    assert isinstance(out, Drop) and out.reason == "no_section"


def test_title_of_a_real_paper_is_found_and_made_plain():
    text = strip_comments(CELERITE.read_text(encoding="utf-8"))
    assert find_title(text).split()[0] == "\\vspace{-\\baselineskip}"
    assert plain_inline(find_title(text)) == ("Fast and scalable Gaussian process modeling with applications "
                                              "to astronomical time series")


def test_plain_inline_keeps_math_and_escapes():
    assert plain_inline("Q\\&A on $\\alpha$-stable laws\\thanks{Funded.}\\\\ and~more") == \
        "Q&A on $\\alpha$-stable laws and more"


# ---------------------------------------------------------------------------- macros

def test_newcommand_with_arguments_and_optional_default():
    defs = "\\newcommand{\\pair}[2]{(#1, #2)}\\newcommand\\norm[2][2]{\\|#2\\|_{#1}}"
    assert expand(defs, "\\pair{a}{b} \\norm{x} \\norm[1]{y}") == "(a, b) \\|x\\|_{2} \\|y\\|_{1}"


def test_arguments_read_as_tex_does_single_tokens_and_spaces():
    defs = "\\newcommand{\\bvec}[1]{\\boldsymbol{#1}}"
    assert expand(defs, "$\\bvec x + \\bvec\\theta + \\bvec {y}$") == \
        "$\\boldsymbol{x} + \\boldsymbol{\\theta} + \\boldsymbol{y}$"


def test_def_renewcommand_providecommand_and_math_operator():
    defs = ("\\def\\R{\\mathbb{R}}\\def\\inner#1#2{\\langle #1,#2\\rangle}"
            "\\newcommand{\\x}{old}\\renewcommand{\\x}{new}\\providecommand{\\x}{ignored}\\providecommand{\\y}{why}"
            "\\DeclareMathOperator{\\tr}{tr}\\DeclareMathOperator*{\\argmax}{arg\\,max}")
    assert expand(defs, "$\\R$ \\inner{u}{v} \\x \\y $\\tr A$ $\\argmax_x$") == \
        "$\\mathbb{R}$ \\langle u,v\\rangle new why $\\operatorname{tr} A$ $\\operatorname*{arg\\,max}_x$"


def test_nested_macros_expand_recursively_and_prefix_names_stay_apart():
    defs = ("\\newcommand{\\project}[1]{\\textsf{#1}}\\newcommand{\\this}{\\project{emcee}}"
            "\\newcommand{\\eq}[1]{Eq.~\\eqref{#1}}\\newcommand{\\eqlabel}[1]{\\label{eq:#1}}")
    assert expand(defs, "\\this, \\eq{a}\\eqlabel{b} and \\eqref{c} and \\thisx") == \
        "\\textsf{emcee}, Eq.~\\eqref{a}\\label{eq:b} and \\eqref{c} and \\thisx"


def test_a_macro_may_take_its_arguments_from_the_text_after_it():
    defs = "\\newcommand{\\Fig}[1]{Figure~\\ref{fig:#1}}\\newcommand{\\fig}{\\Fig}"
    assert expand(defs, "see \\fig{a}.") == "see Figure~\\ref{fig:a}."


def test_control_words_do_not_run_into_the_letters_after_them():
    defs = "\\newcommand{\\gr}[1]{\\alpha#1}\\newcommand{\\tail}[1]{#1\\beta}\\newcommand{\\b}{b}"
    assert expand(defs, "$\\gr{b} \\tail{a}c \\alpha\\b$") == "$\\alpha b a\\beta c \\alpha b$"


def test_let_aliases_a_user_macro_or_a_command():
    defs = "\\newcommand{\\foo}{FOO}\\let\\bar=\\foo\\let\\eps\\varepsilon\\renewcommand{\\foo}{changed}"
    assert expand(defs, "\\bar \\eps \\foo") == "FOO \\varepsilon changed"


def test_definitions_in_the_body_count_from_where_they_stand_and_are_removed():
    assert expand("", "\\x \\newcommand{\\x}{X}\\x\\def\\y{Y}\\y") == "\\x XY"


def test_programming_and_structure_definitions_are_kept_as_written():
    defs = ("\\makeatletter\\renewcommand\\section{\\@ifstar{\\a}{\\b}}\\def\\env@matrix{x}"
            "\\def\\texttt#1{\\expandafter\\ttOrig{\\seqsplit{#1}}}\\def\\upto#1.{#1}"
            "\\renewcommand{\\subsection}[1]{\\oldsub{#1}}")
    table = MacroTable()
    collect_definitions(defs, table)
    assert table.unexpanded == {"section": "protected", "env@matrix": "internal", "texttt": "programming",
                                "upto": "delimited_parameters", "subsection": "protected"}
    assert expand_macros("\\section{A} \\texttt{b} \\subsection{C}", table)[0] == "\\section{A} \\texttt{b} \\subsection{C}"


def test_no_expansion_inside_verbatim():
    assert expand("\\newcommand{\\x}{X}", "\\x \\verb|\\x| \\begin{verbatim}\\x\\end{verbatim} \\x") == \
        "X \\verb|\\x| \\begin{verbatim}\\x\\end{verbatim} X"


# ---------------------------------------------------------------------------- bounds

@pytest.mark.parametrize("definitions", [
    "\\def\\loop{\\loop x}",  # nests forever
    "\\newcommand{\\loop}{x\\loop}",  # a tail call forever: output grows
    "\\newcommand{\\loop}{\\other}\\newcommand{\\other}{\\loop}",  # mutual, no output at all
    "\\def\\loop{\\loop\\loop}",  # doubling
    "\\newcommand{\\loop}[1]{#1#1\\loop{#1#1}}",  # output grows geometrically
])
def test_self_referencing_macros_stop_quickly_with_an_error(definitions):
    table = MacroTable()
    collect_definitions(definitions, table)
    meter = WorkMeter(1 << 62)
    with pytest.raises(MacroExpansionError):
        expand_macros("\\section{A} then \\loop{ab} end", table, MacroLimits(), meter)
    assert meter.used < 5_000_000  # the bounds stop it after little work, not after the budget


def test_the_cleaner_counts_a_runaway_macro_as_an_error_with_the_paper_id():
    text = ("\\documentclass{article}\n\\newcommand{\\loop}{\\loop x}\n\\begin{document}\n"
            "\\section{Intro}\nThis never ends: \\loop.\n\\end{document}\n")
    out = LatexCleaner(MacroLimits(max_depth=32)).map(make_document("arxiv", "2101.00001", text, location="p.tar.gz"))
    assert isinstance(out, BadInput)
    assert (out.kind, out.doc_id, out.location) == ("macro_expansion_limit", "arxiv/2101.00001", "p.tar.gz")
    assert "nesting deeper than 32" in out.message


def test_bounds_are_generous_for_real_papers():
    text = strip_comments(CELERITE.read_text(encoding="utf-8"))
    cleaned = clean_latex(text, MacroLimits(max_depth=16, max_expansions=5000, max_growth=2.0))
    assert cleaned.macros_expanded > 500


# ---------------------------------------------------------------------------- work: linear, bounded

PAPER = "\\documentclass{article}\n%s\\begin{document}\n\\section{Intro}\n"


def work_per_char(text: str) -> float:
    meter = WorkMeter(1 << 62)
    clean_latex(text, meter=meter)
    return meter.used / len(text)


@pytest.mark.parametrize("preamble,unit", [
    ("", "\\def\\q{ word "),  # issue 14: 16/32/64 KB took 0.8/3.5/24.6 s
    ("\\newcommand\\a[1]{#1}", "\\a{ word "),  # unclosed arguments, each read to the end before
    ("\\newcommand\\a[2][d]{#1#2}", "\\a[ w "),  # unclosed optional arguments
    ("\\newcommand\\vect{\\mathbf}", "\\vect x "),  # arguments taken from the text below
    ("", "% only a comment\n"),  # comment-only lines (each rescanned its line's start before)
])
def test_hostile_papers_cost_the_same_per_character_at_every_size(preamble, unit):
    small, large = (PAPER % preamble + unit * (kb * 1024 // len(unit)) for kb in (16, 256))
    assert work_per_char(large) <= 1.2 * work_per_char(small) + 1
    assert work_per_char(large) < 40  # the default budget is 50


def test_unclosed_def_paper_of_issue_14_is_cleaned_not_hung():
    """The 572-byte gzip of 256 KB of unclosed ``\\def\\q{`` (236 s before): the paper is kept,
    the definitions that never close left as they are."""
    text = PAPER % "" + "\\def\\q{ " * (256 * 1024 // 8)
    out = LatexCleaner().map(make_document("arxiv", "2101.00001", text, location="p.gz"))
    assert isinstance(out, dict) and out["text"].startswith("\\section{Intro}\n\\def\\q{")


def test_argument_from_the_text_below_is_read_whole():
    table = MacroTable()
    collect_definitions("\\newcommand\\vect{\\mathbf}\\newcommand\\pair[2]{(#1,#2)}", table)
    text = "a \\vect x and \\vect{yz}, \\pair{\\vect u}{v} " * 200
    out, _ = expand_macros(text, table)
    assert out == "a \\mathbf x and \\mathbf{yz}, (\\mathbf u,v) " * 200


def test_an_argument_that_never_closes_is_read_as_empty():
    table = MacroTable()
    collect_definitions("\\newcommand\\b[1]{[#1]}", table)
    assert expand_macros("x \\b{ never closed \\b{y} z", table)[0] == "x [] never closed [y] z"


def test_a_paper_past_its_work_budget_is_an_error_and_the_others_go_on():
    """Definitions inside a macro used thousands of times: work grows with uses times body,
    nothing bounds it but the budget."""
    hostile = PAPER % ("\\newcommand\\a{" + "\\newcommand\\b{x}" * 200 + "}\n") + "\\a " * 20_000
    docs = [make_document("arxiv", "2101.00001", hostile, location="hostile.tar.gz"),
            make_document("arxiv", "1703.09710", CELERITE.read_text(encoding="utf-8"), location="celerite/")]
    report = run_steps([LatexCleaner()], docs)
    assert report.counts["latex_clean"] == {"in": 2, "kept": 1, "error:cleaner_budget": 1}
    [error] = report.errors
    assert (error["location"], error["doc_id"]) == ("hostile.tar.gz", "arxiv/2101.00001")
    assert "budget" in error["message"]
    # the budget is a recipe setting: a tight one stops a real paper too
    out = LatexCleaner(budget=CleanerBudget(per_char=1, base=0)).map(docs[1])
    assert isinstance(out, BadInput) and out.kind == "cleaner_budget"
