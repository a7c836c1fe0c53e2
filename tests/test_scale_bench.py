"""The arithmetic of bench/scale.py and bench/project.py (issue 15) on given numbers: the
process-tree RSS sum, /proc stat parsing, stage rows, linearity and speed-up ratios, shuffle
bytes, the projection's core-hours and Dataflow hours, and the text table. No timing here."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import project  # noqa: E402  (bench/project.py)
import scale_math as sm  # noqa: E402  (bench/scale_math.py)


def test_parse_stat_reads_ppid_and_cpu_past_a_command_with_spaces_and_parentheses():
    fields = ["S", "41"] + ["0"] * 9 + ["250", "50"] + ["0"] * 30
    line = "1234 (python (beam) worker) " + " ".join(fields)
    assert sm.parse_stat(line) == (1234, 41, 300.0)


def test_steal_ticks_reads_the_all_cpu_line_only():
    stat = ("cpu  1825243 924 417348 11986653 7749 0 5681 26729 0 0\n"
            "cpu0 912000 400 200000 5990000 3000 0 2800 13000 0 0\nintr 1 2 3\n")
    assert sm.steal_ticks(stat) == 26729
    assert sm.steal_ticks("cpu  1 2 3 4\n") == 0  # a kernel without the field


def test_cpu_used_counts_increases_and_new_processes_and_busy_bin_sorts_intervals():
    before = {1: 10.0, 2: 5.0, 3: 1.0}  # 3 ends before the next reading
    after = {1: 10.2, 2: 5.15, 4: 0.1}  # 4 is born in between
    assert abs(sm.cpu_used(before, after) - 0.45) < 1e-9
    assert sm.cpu_used(after, after) == 0.0
    assert [sm.busy_bin(cpu, 0.2) for cpu in (0.0, 0.09, 0.11, 0.29, 0.31, 0.45)] == [0, 0, 1, 1, 2, 2]
    assert sm.busy_bin(1.0, 0.0) == 0


def test_tree_rss_sums_the_root_and_every_descendant_only():
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    rss = {10: 100, 11: 20, 12: 30, 13: 5, 20: 1000, 21: 7}
    assert sm.descendants(parents, 10) == {10, 11, 12, 13}
    assert sm.tree_rss(parents, rss, 10) == 155
    assert sm.tree_rss(parents, rss, 13) == 5
    assert sm.tree_rss(parents, {}, 10) == 0


def test_tree_cpu_sums_each_process_last_reading():
    assert sm.tree_cpu({1: 2.5, 2: 0.5, 3: 1.0}) == 4.0


def test_stage_rows_take_busy_seconds_and_rates_from_run_json_steps():
    stats = {"steps": [{"step": "read", "in": 1000, "kept": 900, "seconds": 4.0},
                       {"step": "url_dedup", "in": 900, "kept": 850, "counters": {"x": 1}}]}
    rows = sm.stage_rows(stats)
    assert rows[0] == {"stage": "read", "in": 1000, "out": 900, "busy_s": 4.0, "docs_per_core_s": 250.0, "counters": {}}
    assert rows[1]["busy_s"] is None and rows[1]["docs_per_core_s"] is None and rows[1]["counters"] == {"x": 1}


def test_linearity_is_the_ratio_of_costs_per_document():
    # 10 s for 1,000 docs, then 176 s for 16,000: 0.011 s/doc against 0.01 -> 1.1
    assert sm.linearity((10.0, 1000), (176.0, 16000)) == pytest.approx(1.1)
    assert sm.linearity((10.0, 1000), (80.0, 16000)) == pytest.approx(0.5)
    assert sm.linearity((None, 1000), (80.0, 16000)) is None
    assert sm.linearity((0.0, 1000), (80.0, 16000)) is None


def test_speedup_rate_per_million_and_median():
    assert sm.speedup(170.0, 100.0) == pytest.approx(1.7)
    assert sm.speedup(None, 100.0) is None
    assert sm.rate(300, 2.0) == 150.0 and sm.rate(300, 0) is None
    assert sm.per_million(387.8 * 2_000, 2_000) == pytest.approx(387.8e6)
    assert sm.median([3.0, None, 1.0, 2.0]) == 2.0 and sm.median([None]) is None


def test_slope_of_rss_against_documents():
    # 500 MB at 1,000 docs, 700 MB at 5,000, 900 at 9,000: 50 kB per document = 50,000 MB per million
    pts = [(1000, 500e6), (5000, 700e6), (9000, 900e6)]
    assert sm.slope(pts) == pytest.approx(50_000.0)
    assert sm.slope(pts[:1]) is None and sm.slope([(1, 1.0), (1, 2.0)]) is None


def test_shuffle_bytes_and_mean_sizes():
    assert sm.shuffle_bytes(48_000, 387.8) == pytest.approx(18_614_400)
    assert sm.mean_bytes([10, 20, 30]) == (20.0, 3) and sm.mean_bytes([]) == (0.0, 0)


def test_core_hours_carry_a_superlinear_ratio_and_never_credit_a_sublinear_one():
    assert sm.core_hours(3_600_000, 100.0) == pytest.approx(10.0)
    assert sm.core_hours(3_600_000, 100.0, 1.2) == pytest.approx(12.0)
    assert sm.core_hours(3_600_000, 100.0, 0.8) == pytest.approx(10.0)


def test_dataflow_plan_divides_core_hours_by_vcpus():
    assert sm.dataflow_plan(40_000.0, 8, 500) == {"workers": 500, "vcpus": 4000, "hours": 10.0}


def _scale_json():
    """A two-source scale.py JSON with round numbers, at x1 and x4 on one worker."""
    def run(factor, cc_cpu, c4_busy):
        return {"factor": factor, "workers": 1, "sources": {
            "commoncrawl": {"documents_in": 1000 * factor, "documents_out": 500 * factor, "cpu_s": cc_cpu, "stages": [
                {"stage": "read", "in": 1000 * factor, "out": 1000 * factor, "busy_s": 5.0 * factor, "counters": {}},
                {"stage": "line_dedup", "in": 1000 * factor, "out": 500 * factor, "busy_s": None,
                 "counters": {"lines_in": 40_000 * factor}}]},
            "c4": {"documents_in": 100 * factor, "documents_out": 100 * factor, "cpu_s": c4_busy + 3.0, "stages": [
                {"stage": "read", "in": 100 * factor, "out": 100 * factor, "busy_s": c4_busy, "counters": {}}]}},
            "mix": {"documents_in": 600 * factor, "cpu_s": 6.0 * factor + 2.0}}
    return {"runs": [run(1, 10.0, 1.0), run(4, 40.0, 4.8)],
            "summary": {"shuffle": {"commoncrawl/line_dedup": {"bytes_per_item": 50.0, "unit": "lines", "what": "w"},
                                    "mix/shard_shuffle": {"bytes_per_item": 400.0, "unit": "documents", "what": "s"}}}}


def test_marginal_rate_cancels_a_fixed_start_up():
    # 13 s for 1,000 docs, 43 s for 4,000: 3,000 extra docs in 30 extra s -> 100/s (the 3 s start-up cancels)
    assert sm.marginal_rate((13.0, 1000), (43.0, 4000))[0] == pytest.approx(100.0)
    assert sm.marginal_rate((13.0, 1000), (13.0, 4000))[0] is None
    assert sm.marginal_rate((13.0, 1000), (20.0, 1000))[0] is None


def test_projection_rests_on_the_marginal_tree_cpu_split_by_busy_shares():
    p = project.project(_scale_json())
    rows = {(r["source"], r["stage"].strip()): r for r in p["rows"]}
    cc_docs, c4_docs = project.REAL["commoncrawl"][0], project.REAL["c4"][0]
    # CC: 10 CPU s at x1, 40 at x4 -> 3,000 extra docs in 30 extra s = 100 docs per CPU-second
    cc = rows["commoncrawl", "(source)"]
    assert cc["per_core_s"] == pytest.approx(100.0) and cc["linearity"] == pytest.approx(1.0)
    assert cc["core_hours"] == pytest.approx(cc_docs / 100.0 / 3600)
    # read: 20 busy s of the 40 CPU s at x4 -> half of it; the rest is the global steps + Beam
    assert rows["commoncrawl", "read"]["core_hours"] == pytest.approx(cc["core_hours"] / 2)
    assert rows["commoncrawl", "global steps + Beam"]["core_hours"] == pytest.approx(cc["core_hours"] / 2)
    # c4: 4.0 CPU s at x1, 7.8 at x4 -> 300 / 3.8 per s; cost per doc fell (0.04 -> 0.0195): no penalty
    c4 = rows["c4", "(source)"]
    assert c4["per_core_s"] == pytest.approx(300 / 3.8) and c4["linearity"] == pytest.approx(0.4875)
    assert c4["core_hours"] == pytest.approx(c4_docs / (300 / 3.8) / 3600)
    # mix input: each source's real documents x its kept share (cc 1/2, c4 1); 1,800 extra docs in 18 s
    kept = cc_docs / 2 + c4_docs
    assert p["mix_input_documents"] == pytest.approx(kept)
    assert rows["mix", "tokenizer + encode + shards"]["core_hours"] == pytest.approx(kept / 100.0 / 3600)
    assert p["total_core_hours"] == pytest.approx(cc["core_hours"] + c4["core_hours"] + kept / 100.0 / 3600)


def test_stage_shares_scale_busy_seconds_down_to_the_cpu_seconds():
    assert sm.stage_shares([20.0, 10.0], 40.0) == [0.5, 0.25]
    assert sm.stage_shares([30.0, 30.0], 40.0) == [0.5, 0.5]  # busy (wall) above CPU: scaled together
    assert sm.stage_shares([], 40.0) == []


def test_projection_shuffle_scales_lines_per_page_and_kept_documents():
    p = project.project(_scale_json())
    by = {s["step"]: s for s in p["shuffle"]}
    # 40 lines per page read (every page reaches line dedup here), 50 bytes each
    assert by["commoncrawl/line_dedup"]["bytes"] == pytest.approx(project.REAL["commoncrawl"][0] * 40 * 50.0)
    assert by["mix/shard_shuffle"]["bytes"] == pytest.approx(p["mix_input_documents"] * 400.0)
    assert p["shuffle_bytes"] == pytest.approx(sum(s["bytes"] for s in p["shuffle"]))


def test_table_aligns_columns_under_a_rule():
    text = sm.table(["a", "n"], [["x", 1], ["long", 22]])
    assert text.splitlines() == ["a      n", "----  --", "x      1", "long  22"]


def test_linearity_runs_pick_the_worker_count_spanning_the_widest_factors():
    keys = [(1, 2), (4, 2), (16, 2), (1, 1), (4, 1)]
    assert sm.linearity_runs(keys) == (2, 1, 16, 4)
    assert sm.linearity_runs([(1, 1), (16, 1), (1, 2), (16, 2)]) == (1, 1, 16, 1)
    assert sm.linearity_runs([(64, 2)]) == (2, 64, 64, None)


def test_speedup_factor_is_the_largest_factor_run_with_both_worker_counts():
    assert sm.speedup_factor([(1, 2), (4, 2), (16, 2), (1, 1), (4, 1)]) == 4
    assert sm.speedup_factor([(16, 2), (16, 1)]) == 16
    assert sm.speedup_factor([(1, 2), (16, 2)]) is None


def test_projection_caps_the_tokenizer_sample_at_sample_chars():
    scale = _scale_json()
    scale["summary"]["shuffle"]["mix/tokenizer_sample"] = {"bytes_per_item": 5000.0, "unit": "documents", "what": "t"}
    by = {s["step"]: s for s in project.project(scale)["shuffle"]}
    assert by["mix/tokenizer_sample"]["bytes"] == pytest.approx(project.SAMPLE_CHARS * 1.1)


def test_items_per_document_counts_the_share_reaching_the_step_per_page_read():
    run = {"sources": {"commoncrawl": {"documents_in": 1000, "stages": [
        {"stage": "url_dedup", "in": 1000, "counters": {}},
        {"stage": "line_dedup", "in": 750, "counters": {"lines_in": 75_000}},
        {"stage": "perplexity_bucket", "in": 300, "counters": {}}]}}}
    assert project.items_per_document(run, "commoncrawl", "line_dedup", "lines") == 75.0
    assert project.items_per_document(run, "commoncrawl", "perplexity_bucket", "documents") == 0.3
    assert project.items_per_document(run, "commoncrawl", "absent", "documents") == 1.0
