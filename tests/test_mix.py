"""The mixture plan (llamacorpus.tokenize.mixture): Table 1, absent sources, shortfall rules; the
exact quota (tokenize.quota) on real documents, alone and in Beam; chunks of long documents; copies
with distinct epochs at rates above 1; the check (ok / absent / off_target) and its table."""
import dataclasses
from typing import Any, Tuple

import numpy as np
import pytest
import sentencepiece as spm
from apache_beam.testing.util import assert_that, equal_to

from helpers import FIXTURES, test_pipeline
from llamacorpus.document import stable_hash
from llamacorpus.pipeline import mix
from llamacorpus.sources.c4 import SOURCE as C4, C4Config
from llamacorpus.tokenize import chunks, mixture, quota
from llamacorpus.tokenize import train as trainer
from llamacorpus.tokenize.encoder import Encoder
from llamacorpus.tokenize.spill import SpillSort

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
def c4_docs():
    return list(C4.read(C4Config(), C4_SHARD))


@pytest.fixture(scope="module")
def model(c4_docs) -> bytes:
    cfg = dataclasses.replace(trainer.TokenizerConfig(), vocab_size=1000, num_threads=2)
    return trainer.train(lambda: [d["text"] for d in c4_docs[:300]], cfg)[0]


def items_of(docs, source="c4"):
    """Quota items of real documents: order hash, id, characters."""
    return [(source, (stable_hash(d["id"], "test"), d["id"], len(d["text"]))) for d in docs]


def brute_force(items, target, rule):
    """The prefix of the hash order that the rule picks, by sorting everything."""
    ordered = sorted(item for _, item in items)
    sums = np.concatenate([[0], np.cumsum([w for _, _, w in ordered])])
    if rule == quota.AT_MOST:
        k = int(np.searchsorted(sums, target, side="right")) - 1
    else:
        k = max(range(len(sums)), key=lambda i: (-abs(sums[i] - target), i))
    return {tie for _, tie, _ in ordered[:max(k, 0)]}


def taken_by(cut, items):
    return {tie for _, (order, tie, _) in items if quota.taken(cut, order, tie)}


@pytest.mark.parametrize("bits", [16, 3])  # 3: a few buckets, so the boundary bucket holds many items
@pytest.mark.parametrize("rule", [quota.NEAREST, quota.AT_MOST])
def test_quota_takes_the_exact_prefix_of_the_hash_order(c4_docs, monkeypatch, bits, rule):
    monkeypatch.setattr(quota, "BUCKET_BITS", bits)
    monkeypatch.setattr(quota, "BUCKETS", 1 << bits)
    items = items_of(c4_docs)
    total = sum(w for _, (_, _, w) in items)
    for target in [0, 1, 777, 12_345, total / 3, total / 2 + 0.5, total - 1, total, total * 2]:
        cut = quota.local_cuts(lambda: items, lambda totals: {"c4": target}, rule)["c4"]
        got = taken_by(cut, items)
        assert got == brute_force(items, target, rule), target
        weight = sum(w for _, (_, tie, w) in items if tie in got)
        assert weight == cut.taken
        if rule == quota.AT_MOST:
            assert weight <= target
        elif 0 < target < total:
            assert abs(weight - target) <= max(w for _, (_, _, w) in items) / 2


def test_quota_in_beam_equals_the_local_cut(c4_docs):
    items = items_of(c4_docs[:600], "c4") + items_of(c4_docs[600:], "books")

    def targets(totals, share):
        return {g: total * share for g, total in totals.items()}

    expected = quota.local_cuts(lambda: items, lambda totals: targets(totals, 0.37), quota.NEAREST)
    p = test_pipeline()
    cuts = (p | mix.beam.Create([None])  # (Create would pick a coder for 64-bit unsigned hashes that fails)
            | "items" >> mix.beam.FlatMap(lambda _: items).with_output_types(Tuple[str, Any]) | "quota" >> mix.QuotaCuts(targets, quota.NEAREST, 0.37))
    assert_that(cuts, equal_to([expected]))
    p.run().wait_until_finish()


def test_spill_sort_orders_by_key_then_tiebreak(c4_docs):
    records = [(stable_hash(d["id"]) % 50, d["id"].encode(), d["text"].encode()) for d in c4_docs[:300]]
    with SpillSort() as spill:
        for key, tie, data in reversed(records):
            spill.add(key, tie, data)
        assert len(spill) == 300
        got = list(spill)
    assert got == [data for _, _, data in sorted(records)]  # many equal keys: ordered by id


def test_long_documents_are_cut_on_lines(model, c4_docs):
    sp = spm.SentencePieceProcessor(model_proto=model)
    text = "\n".join(d["text"] for d in c4_docs[:40])
    ids = np.array(sp.encode(text), dtype=np.int64)
    tables = chunks.boundary_tables([sp.id_to_piece(i) for i in range(sp.get_piece_size())])
    ends = chunks.chunk_ends(ids, 256, *tables)
    starts = [0, *ends[:-1]]
    assert ends[-1] == len(ids) and len(ends) >= len(ids) / 256
    assert all(0 < b - a <= 256 for a, b in zip(starts, ends))
    after_line = sum(bool(tables[0][ids[e - 1]]) for e in ends[:-1])
    assert after_line >= 0.9 * (len(ends) - 1)  # C4 lines are short: nearly every cut is at a newline
    assert np.concatenate([ids[a:b] for a, b in zip(starts, ends)]).tolist() == ids.tolist()
    for a, b in zip(starts[1:], ends[1:]):
        if tables[0][ids[a - 1]]:  # cut after a line: the chunk is whole lines of the text
            assert "\n" + sp.decode(ids[a:b].tolist()) in text
    enc = Encoder(model)
    doc = {"id": "c4/long", "source": "c4", "text": text, "meta": {}}
    units = [np.frombuffer(u, np.uint16) for u in enc.encode_units(doc, 256)]
    assert all(len(u) <= 256 and u[0] == enc.bos_id and u[-1] == enc.eos_id for u in units)
    assert np.concatenate([u[1:-1] for u in units]).tolist() == sp.encode(text)
    assert [u.tobytes() for u in map(np.asarray, [enc.encode(doc)])] == enc.encode_units(doc, 0)


def units_of(enc, docs, source, chunk_tokens):
    return [mix.Unit(mix.TRAIN, source, d["id"], i, len(b) // 2, b)
            for d in docs for i, b in enumerate(enc.encode_units(d, chunk_tokens))]


@pytest.mark.parametrize("rate", [0.3, 1.0, 2.45])
def test_copies_realise_the_plan_within_half_a_unit_each_copy_its_own_epoch(model, c4_docs, rate):
    enc = Encoder(model)
    units = units_of(enc, c4_docs[:400], "c4", 128) + units_of(enc, c4_docs[400:], "books", 0)
    available = {s: sum(u.tokens for u in units if u.source == s) for s in ("c4", "books")}
    plan = mixture.make_plan(available, {"c4": (0.5, rate), "books": (0.5, 10.0)})
    assert rows(plan)["c4"]["rate"] == pytest.approx(rate)  # c4 binds at its epochs
    plan["shard_count"] = {mix.TRAIN: 3, mix.VALIDATION: 1}
    items = [i for u in units for i in mix.quota_item(u, plan, seed=7)]
    cuts = quota.local_cuts(lambda: items, lambda totals: mix.quota_targets(totals, plan))
    fn = mix.EmitCopiesFn(["c4", "books"], 7, 0)
    copies = {u: [c for _, c in fn.process(u, plan, cuts)] for u in units}
    for source in ("c4", "books"):
        row = {r["source"]: r for r in plan["sources"]}[source]
        got = sum(u.tokens * len(c) for u, c in copies.items() if u.source == source)
        largest = max(u.tokens for u in units if u.source == source)
        assert abs(got - row["planned_tokens"]) <= largest / 2 + 1, source
    for unit, cs in copies.items():
        epochs = [c.epoch for c in cs]
        assert epochs == list(range(len(epochs)))  # 0, 1, ... : each copy its own epoch
        assert len({c.key for c in cs}) == len(cs)  # and its own place in the shuffle
        if unit.source == "c4":
            assert len(epochs) in (int(rate), int(rate) + 1)
    again = {u: [c for _, c in fn.process(u, plan, cuts)] for u in units}
    assert again == copies  # deterministic


def test_copies_depend_on_the_seed(model, c4_docs):
    enc = Encoder(model)
    units = units_of(enc, c4_docs[:300], "c4", 0)
    plan = mixture.make_plan({"c4": sum(u.tokens for u in units)}, {"c4": (1.0, 0.5)})
    plan["shard_count"] = {mix.TRAIN: 1, mix.VALIDATION: 1}
    chosen = []
    for seed in (0, 1):
        items = [i for u in units for i in mix.quota_item(u, plan, seed)]
        cuts = quota.local_cuts(lambda: items, lambda totals: mix.quota_targets(totals, plan))
        fn = mix.EmitCopiesFn(["c4"], seed, 0)
        chosen.append({u.id for u in units if list(fn.process(u, plan, cuts))})
    assert chosen[0] != chosen[1] and abs(len(chosen[0]) - len(chosen[1])) < 30


def test_realised_mixture_status_ok_absent_off_target():
    plan = mixture.make_plan({"c4": 1000, "books": 1000, "arxiv": 1000},
                             {"c4": (0.5, 1.0), "books": (0.3, 1.0), "arxiv": (0.2, 1.0)}, 1000)
    ok = mixture.add_realised(plan, {"c4": 502, "books": 299, "arxiv": 200}, {"c4": 5, "books": 3, "arxiv": 2})
    assert ok["ok"] and ok["tolerance_pp"] == 0.5 and {r["status"] for r in ok["sources"]} == {"ok"}
    assert "within_sampling_error" not in ok and all(r["ok"] for r in ok["sources"])
    bad = mixture.add_realised(plan, {"c4": 700, "books": 300}, {"c4": 7, "books": 3})
    by = rows(bad)
    assert not bad["ok"] and by["arxiv"]["status"] == "absent" and not by["arxiv"]["ok"]
    assert by["c4"]["status"] == "off_target" and by["c4"]["off_pp"] == pytest.approx(20.0)
    assert mixture.add_realised(plan, {"c4": 506, "books": 297, "arxiv": 197}, {}, 0.5)["ok"] is False
    assert mixture.add_realised(plan, {"c4": 506, "books": 297, "arxiv": 197}, {}, 1.0)["ok"] is True
    # planned in the recipe but not in this run at all: absent too (the mixture is not Table 1)
    partial = mixture.make_plan({"c4": 1000}, {"c4": (0.5, 1.0), "books": (0.5, 1.0)})
    assert rows(mixture.add_realised(partial, {"c4": 1000}, {}))["books"]["status"] == "absent"


def test_table_marks_failures_in_red_only_on_a_terminal():
    plan = mixture.make_plan({"c4": 1000, "books": 1000}, {"c4": (0.5, 1.0), "books": (0.5, 1.0)}, 1000)
    bad = mixture.add_realised(plan, {"c4": 500, "arxiv": 0}, {"c4": 5})  # c4 is then 100% of the mixture
    plain, red = mixture.format_table(bad, color=False), mixture.format_table(bad, color=True)
    assert "\033[" not in plain and "ABSENT" in plain and "FAILED" in plain
    assert "mixture check FAILED (tolerance 0.5 pp): c4 off_target, books absent" in plain
    books = next(line for line in red.splitlines() if "books" in line and "ABSENT" in line)
    assert books.startswith(mixture.RED) and books.endswith(mixture.RESET)
    assert not any(line.startswith(mixture.RED) for line in red.splitlines()[:3])  # title, header
    good = mixture.format_table(mixture.add_realised(plan, {"c4": 500, "books": 500}, {}), color=True)
    assert mixture.RED not in good and "FAILED" not in good
