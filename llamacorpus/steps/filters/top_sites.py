"""Keep the N largest sites (Stack Exchange: LLaMA kept "the 28 largest websites"): a global step.

Posts are counted per site over all inputs; sites are ranked by that count (ties by name) and the
``top`` largest kept (0 keeps all), each post getting ``site_rank`` (1 = the largest). Posts of
other sites are dropped as ``not_top_sites``; per-site meta sites (``*.meta.stackexchange.com``,
``meta.*``) as ``meta_site`` unless ``include_meta``.
"""
from __future__ import annotations

import apache_beam as beam

from llamacorpus.document import Document, with_meta
from llamacorpus.steps import Drop
from llamacorpus.steps.adapter import GlobalStep, StepOutputs


def is_meta_site(site: str) -> bool:
    return site.startswith("meta.") or ".meta." in site


def rank_sites(counts: list[tuple[str, int]], top: int, include_meta: bool) -> dict[str, int | str]:
    """site -> its rank (1 = most posts) when kept, else the drop reason."""
    decisions: dict[str, int | str] = {}
    eligible = []
    for site, count in counts:
        if not include_meta and is_meta_site(site):
            decisions[site] = "meta_site"
        else:
            eligible.append((site, count))
    for rank, (site, _) in enumerate(sorted(eligible, key=lambda sc: (-sc[1], sc[0])), start=1):
        decisions[site] = rank if top == 0 or rank <= top else "not_top_sites"
    return decisions


def _site_decision(doc: Document, ranks: dict) -> tuple:
    rank = ranks[doc["meta"]["site"]]
    return (doc, Drop(rank, doc)) if isinstance(rank, str) else (doc, with_meta(doc, site_rank=rank))


class TopSites(GlobalStep):
    """Keep the posts of the N largest sites by post count among the inputs."""

    name = "top_sites"

    def __init__(self, source: str, top: int, include_meta: bool):
        super().__init__(source)
        self.top, self.include_meta = top, include_meta

    def expand(self, posts) -> StepOutputs:
        ranks = (posts
                 | "Site" >> beam.Map(lambda d: d["meta"]["site"])
                 | "Count" >> beam.combiners.Count.PerElement()
                 | "All" >> beam.combiners.ToList()
                 | "Rank" >> beam.Map(rank_sites, self.top, self.include_meta))
        decisions = posts | "Site decision" >> beam.Map(_site_decision, beam.pvalue.AsSingleton(ranks))
        return self.decide(decisions)
