"""HTML to text for Stack Exchange posts: paragraphs, lists, code blocks, no tags, entities."""
import re

from lxml import etree

from helpers import FIXTURES
from llamacorpus.steps.clean.html_text import html_to_text

BEER = FIXTURES / "stackexchange" / "beer.stackexchange.com-Posts.xml"
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")


def real_bodies(path=BEER):
    for _, row in etree.iterparse(str(path), tag="row"):
        yield row.get("Id"), row.get("Body", "")
        row.clear()


def test_paragraphs_line_breaks_and_entities():
    html = "<p>Hops &amp; malt,\n  <b>bold</b> &lt;tag&gt; &#39;q&#39;</p><p>one<br>two</p>"
    assert html_to_text(html) == "Hops & malt, bold <tag> 'q'\n\none\ntwo"


def test_lists_nest_and_number():
    html = ("<ul><li>one</li><li>two<ul><li>inner</li></ul></li></ul>"
            "<ol start='3'><li>three</li><li><p>four a</p><p>four b</p></li></ol>")
    assert html_to_text(html) == "- one\n- two\n  - inner\n\n3. three\n4. four a\n\n   four b"


def test_code_blocks_keep_every_character_and_inline_code_its_backticks():
    html = ("<p>Run <code>make &amp;&amp; test</code>:</p>"
            "<pre><code>def f(x):\n    if x &lt; 2:\n\n        return '&lt;b&gt;'\n</code></pre><p>done</p>")
    assert html_to_text(html) == ("Run `make && test`:\n\n```\ndef f(x):\n    if x < 2:\n\n"
                                  "        return '<b>'\n```\n\ndone")


def test_quotes_tables_images_and_empty_input():
    html = ("<blockquote><p>quoted<br>again</p></blockquote><img src='x.png' alt='enter image description here'>"
            "<table><tr><th>style</th><th>abv</th></tr><tr><td>stout</td><td>5%</td></tr></table><!-- c -->")
    assert html_to_text(html) == "> quoted\n> again\n\nstyle | abv\n\nstout | 5%"
    assert html_to_text("") == "" and html_to_text("  \n") == "" and html_to_text("<!-- only -->") == ""


def test_real_posts_with_pre_code_keep_their_code():
    """beer.SE question 154 lists beer styles in a <pre><code> block."""
    body = dict(real_bodies())["154"]
    assert "<pre><code>" in body
    text = html_to_text(body)
    assert "```\nPale Lager\nGeneric lager.\nPilsner\nPale Ale (Which style?)\nImperial Pale Ale\nStout\n```" in text


def test_no_tag_or_entity_survives_in_any_real_post():
    count = 0
    for site in ("beer", "coffee"):
        for post_id, body in real_bodies(FIXTURES / "stackexchange" / f"{site}.stackexchange.com-Posts.xml"):
            text = html_to_text(body)
            assert not TAG.search(text), (site, post_id, TAG.search(text).group())
            assert not ENTITY.search(text), (site, post_id, ENTITY.search(text).group())
            count += bool(body)
    assert count == 2908  # every row with a body: questions, answers, tag wikis


# ---------------------------------------------------------------------------- bounded: deep nesting

from llamacorpus.document import make_document  # noqa: E402
from llamacorpus.steps.clean.html_text import MAX_RENDER_DEPTH, HtmlToText, render_html  # noqa: E402


def test_html_nested_past_the_render_depth_keeps_its_text_and_is_counted():
    """300 nested divs gave empty text silently (libxml2 stops at 256); now the text is there,
    the deep subtree rendered as plain text and counted in meta."""
    body = "<div>" * 300 + "deep <b>words</b><script>no</script>" + "</div>" * 300 + "<p>after</p>"
    out = HtmlToText().map(make_document("stackexchange", "beer/1", body, location="Posts.xml:7"))
    assert out["text"] == "deep words\n\nafter" and out["meta"]["html_flattened"] == 1
    shallow = "<div>" * (MAX_RENDER_DEPTH - 3) + "<ul><li>x</li></ul>" + "</div>" * (MAX_RENDER_DEPTH - 3)
    assert render_html(shallow) == ("- x", 0)


def test_html_nested_past_the_parsers_limit_is_an_error_not_an_empty_post():
    body = "<blockquote>" * 3000 + "words" + "</blockquote>" * 3000
    out = HtmlToText().map(make_document("stackexchange", "beer/2", body, location="Posts.xml:9"))
    assert (out.kind, out.location, out.doc_id) == ("cleaner_budget", "Posts.xml:9", "stackexchange/beer/2")
    assert "2048" in out.message


def test_unclosed_raw_elements_hold_only_the_posts_own_text():
    """lxml's fragment parser appends ``</body></html>``, which an unclosed raw element took as
    its text; and what follows a stray ``</html>`` is kept."""
    assert html_to_text("<p>a</p><textarea>typed") == "a\n\ntyped"
    assert html_to_text("<pre><script>x = 1") == "```\n\n```"
    assert html_to_text("<p>a</p></body></html><p>after</p>") == "a\n\nafter"
