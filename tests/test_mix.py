"""The mixture plan (llamacorpus.tokenize.mixture): Table 1, absent sources, shortfall rules, and the
per-document sampling by (id, epoch) on real document ids."""
import math

import pytest

from helpers import FIXTURES
from llamacorpus.sources.c4 import SOURCE as C4, C4Config
from llamacorpus.tokenize import mixture

# LLaMA Table 1: sampling proportion, epochs
TABLE1 = {"commoncrawl": (0.670, 1.10), "c4": (0.150, 1.06), "github": (0.045, 0.64),
          "wikipedia": (0.045, 2.45), "books": (0.045, 2.23), "arxiv": (0.025, 1.06),
          "stackexchange": (0.020, 1.03)}
C4_SHARD = str(FIXTURES / "c4" / "c4-en-train.00000-of-01024.first1000.json.gz")


def rows(plan):
    return {r["source"]: r for r in plan["sources"]}


def test_table1_is_reproduced_from_the_available_tokens():
    # the disk sizes behind Table 1: available = proportion * 1.4T / epochs
    available = {s: round(p * 1.4e12 / e) for s, (p, e) in TABLE1.items()}
    plan = mixture.make_plan(available, TABLE1)
    assert plan["planned_tokens"] == pytest.approx(1.4e12, rel=1e-6)
    for s, (p, e) in TABLE1.items():
        assert rows(plan)[s]["rate"] == pytest.approx(e, rel=1e-6)  # Wikipedia and Books ~2 epochs
        assert rows(plan)[s]["planned_share"] == pytest.approx(p, rel=1e-6)
    assert plan["notes"][-1].startswith("total planned from the available tokens")


def test_total_from_available_is_set_by_the_scarcest_source():
    available = {"c4": 1_000_000, "wikipedia": 10_000, "books": 50_000}
    plan = mixture.make_plan(available, TABLE1)
    r = rows(plan)
    share = {s: TABLE1[s][0] / 0.24 for s in available}  # renormalised over the present sources
    assert r["wikipedia"]["rate"] == pytest.approx(2.45)  # the binding source at its epochs
    assert plan["planned_tokens"] == pytest.approx(10_000 * 2.45 / share["wikipedia"], abs=1)
    for s in available:
        assert r[s]["target_share"] == pytest.approx(share[s])
        assert r[s]["rate"] <= TABLE1[s][1] + 1e-9
    assert "absent from this run: commoncrawl, github, arxiv, stackexchange" in plan["notes"][0]
    assert "renormalised over c4, wikipedia, books" in plan["notes"][0]
    assert r["github"]["planned_tokens"] == 0 and r["github"]["available_tokens"] == 0


def test_fixed_total_without_shortfall():
    plan = mixture.make_plan({"c4": 1000, "books": 1000}, {"c4": (0.75, 2.0), "books": (0.25, 2.0)}, 1200)
    r = rows(plan)
    assert (r["c4"]["planned_tokens"], r["books"]["planned_tokens"]) == (900, 300)
    assert (r["c4"]["rate"], r["books"]["rate"]) == (0.9, 0.3)
    assert not plan["notes"]


@pytest.mark.parametrize("rule", ["scale_down", "repeat", "redistribute"])
def test_shortfall_rules_are_stated(rule):
    # books is asked 0.5 * 4000 = 2000 tokens but may give at most 1.0 * 1000
    weights = {"c4": (0.3, 1.0), "books": (0.5, 1.0), "arxiv": (0.2, 1.0)}
    available = {"c4": 10_000, "books": 1000, "arxiv": 10_000}
    plan = mixture.make_plan(available, weights, 4000, rule)
    r = rows(plan)
    note = next(n for n in plan["notes"] if n.startswith("shortfall"))
    assert "books (asked 2.00 epochs, recipe 1)" in note and rule in note
    if rule == "scale_down":
        assert plan["planned_tokens"] == 2000 and r["books"]["rate"] == pytest.approx(1.0)
        assert r["c4"]["planned_share"] == pytest.approx(0.3)
    elif rule == "repeat":
        assert plan["planned_tokens"] == 4000 and r["books"]["rate"] == pytest.approx(2.0)
    else:
        assert plan["planned_tokens"] == 4000 and r["books"]["planned_tokens"] == 1000
        assert r["c4"]["planned_tokens"] == 1800 and r["arxiv"]["planned_tokens"] == 1200  # 3000 as 0.3 : 0.2


def test_redistribute_says_when_every_source_is_capped():
    plan = mixture.make_plan({"c4": 100, "books": 100}, {"c4": (0.5, 1.0), "books": (0.5, 2.0)}, 10_000, "redistribute")
    assert plan["planned_tokens"] == 300
    assert any("300 of the 10,000 tokens asked" in n for n in plan["notes"])


def test_present_source_without_proportion_is_not_mixed():
    plan = mixture.make_plan({"c4": 100, "books": 100}, {"c4": (1.0, 1.0)})
    assert rows(plan)["books"]["planned_tokens"] == 0
    assert any(n == "no proportion in mixture.weights, not mixed: books" for n in plan["notes"])


def test_water_fill():
    assert mixture.water_fill({"a": 0.5, "b": 0.5}, {"a": 10, "b": 1000}, 100) == {"a": 10, "b": 90}
    assert mixture.water_fill({"a": 0.5, "b": 0.5}, {"a": 10, "b": 20}, 100) == {"a": 10, "b": 20}


@pytest.fixture(scope="module")
def c4_ids():
    return [d["id"] for d in C4.read(C4Config(), C4_SHARD)]


@pytest.mark.parametrize("rate", [0.3, 1.0, 2.45])
def test_copies_realise_the_rate_within_sampling_error(c4_ids, rate):
    counts = [len(mixture.copies(i, rate)) for i in c4_ids]
    whole = math.floor(rate)
    assert set(counts) <= {whole, whole + 1}
    frac = rate - whole
    std = math.sqrt(len(c4_ids) * frac * (1 - frac))
    assert abs(sum(counts) - rate * len(c4_ids)) <= 4 * std + 1e-9
    assert counts == [len(mixture.copies(i, rate)) for i in c4_ids]  # deterministic
    assert all(mixture.copies(i, rate) == list(range(n)) for i, n in zip(c4_ids[:50], counts))


def test_copies_depend_on_the_seed(c4_ids):
    a = [len(mixture.copies(i, 0.5, seed=0)) for i in c4_ids]
    b = [len(mixture.copies(i, 0.5, seed=1)) for i in c4_ids]
    assert a != b


def test_realised_mixture_is_checked_against_the_sampling_error():
    plan = mixture.make_plan({"c4": 1000, "books": 1000}, {"c4": (0.5, 1.0), "books": (0.5, 1.0)}, 1000,
                             sum_squares={"c4": 10_000, "books": 10_000})
    std = rows(plan)["c4"]["sampling_std"]
    assert std == pytest.approx(math.sqrt(0.25 * 10_000))
    ok = mixture.add_realised(plan, {"c4": 500 + round(3 * std), "books": 500}, {"c4": 50, "books": 50})
    assert ok["within_sampling_error"]
    bad = mixture.add_realised(plan, {"c4": 500 + round(5 * std), "books": 500}, {"c4": 50, "books": 50})
    assert not bad["within_sampling_error"] and not rows(bad)["c4"]["within_sampling_error"]
    table = mixture.format_table(bad)
    assert "realised share" in table and table.splitlines()[3].startswith("c4") and " NO" in table
