"""One source's branch of the graph: read its inputs, apply its steps, and write what it produced.

A source (:mod:`llamacorpus.sources`) gives a reader and its step list; :func:`build_source` turns
them into Beam stages: :class:`~llamacorpus.steps.adapter.ReadFiles` (which splits big inputs into
pieces where the source can, staging decompressed copies under ``Layout.staging``), then consecutive filters and
mappers fused into one :class:`~llamacorpus.steps.adapter.ApplySteps`, and each global step as
the composite it is. :class:`Branch` gathers the side outputs (rejected samples, dead letters,
measures, category counts) on the way; :func:`write_source` wires every sink of a source. The run
(:mod:`llamacorpus.pipeline.graph`) and the tests build a source the same way, through these two.
"""
from __future__ import annotations

import apache_beam as beam

from llamacorpus.pipeline import io as pio
from llamacorpus.pipeline.stats import WriteCategories, WriteDistributions, category_value
from llamacorpus.steps import Filter, Mapper, RunContext, Step
from llamacorpus.steps.adapter import ApplySteps, GlobalStep, ReadFiles, StepOutputs


def category_keys(doc: dict, source: str, step: str, fields: tuple[str, ...]):
    for field_name in fields:
        yield f"{source}/{step}/{field_name}", category_value(doc["meta"], field_name)


class Branch:
    """Applies a source's steps one after another and gathers their side outputs.

    Consecutive filters and mappers become one :class:`ApplySteps` (one fused, batched DoFn).
    """

    def __init__(self, source: str, batch_size: int = 64, category_fields: tuple[str, ...] = ()):
        self.source, self.batch_size, self.category_fields = source, batch_size, tuple(category_fields)
        self.step_names: list[str] = []
        self.rejected, self.errors, self.measures, self.categories = [], [], [], []
        self.read: StepOutputs | None = None  # the read step's outputs (records read = all three)
        self.dead_letters: beam.PCollection | None = None  # every step's errors, once write_source ran

    def count_categories(self, docs: beam.PCollection, step: str) -> None:
        """Documents per value of the source's category fields (licence, site...) after ``step``."""
        if self.category_fields:
            self.categories.append(docs | f"{self.source}/{step}/categories" >> beam.FlatMap(
                category_keys, self.source, step, self.category_fields))

    def collect(self, outputs: StepOutputs, name: str | None = None) -> beam.PCollection:
        if name:
            self.step_names.append(name)
        if name == "read":
            self.count_categories(outputs.documents, "read")
            self.measures.append(outputs.documents | f"{self.source}/input/lengths" >> beam.Map(
                lambda d, n=self.source: (f"{n}/input/chars", len(d["text"]))))
        for bucket, pcoll in ((self.rejected, outputs.rejected), (self.errors, outputs.errors),
                              (self.measures, outputs.measures)):
            if pcoll is not None:
                bucket.append(pcoll)
        return outputs.documents

    def apply(self, docs: beam.PCollection, steps: list) -> beam.PCollection:
        chain: list[Step] = []
        for step in [*steps, None]:
            if isinstance(step, (Filter, Mapper)):
                chain.append(step)
                continue
            if chain:
                label = f"{self.source}/{len(self.step_names)}:{'+'.join(s.name for s in chain)}"
                self.step_names.extend(s.name for s in chain)
                docs = self.collect(docs | label >> ApplySteps(self.source, chain, self.batch_size))
                chain = []
            if isinstance(step, GlobalStep):
                label = f"{self.source}/{len(self.step_names)}:{step.name}"
                docs = self.collect(docs | label >> step, step.name)
            elif step is not None:
                raise TypeError(f"{self.source}: step {step!r} is not a Filter, Mapper or GlobalStep")
        return docs


def build_source(pbegin, source, cfg, ctx: RunContext, paths: list[str]) -> tuple[beam.PCollection, Branch]:
    """Read ``paths`` with the source's reader and apply its steps; returns the documents and the
    branch holding the side outputs."""
    branch = Branch(source.name, ctx.batch_size, source.category_fields)
    branch.read = pbegin | f"{source.name}/read" >> ReadFiles(source.name, source.input_reader(cfg), paths,
                                                              staging=ctx.layout.staging(source.name))
    docs = branch.collect(branch.read, "read")
    docs = branch.apply(docs, source.steps(cfg, ctx))
    branch.count_categories(docs, "output")
    return docs, branch


def write_source(p, name: str, docs: beam.PCollection, branch: Branch, output: str,
                 export_jsonl: bool = False) -> list[beam.PCollection]:
    """Every sink of one source: documents (and the JSONL export), distributions, kept and
    rejected samples, category counts and dead letters. Returns what each sink emits once it is
    done (the finished-source marker waits for all of them)."""
    done = [docs | f"{name}/write" >> pio.WriteDocuments(output, name),
            docs | f"{name}/kept_samples" >> pio.WriteKeptSamples(output)]
    if export_jsonl:
        done.append(docs | f"{name}/export" >> pio.ExportJsonl(output, name))
    lengths = docs | f"{name}/lengths" >> beam.Map(lambda d, n=name: (f"{n}/output/chars", len(d["text"])))
    done.append([lengths, *branch.measures] | f"{name}/measures/flatten" >> beam.Flatten()
                | f"{name}/measures/write" >> WriteDistributions(output, name))
    if branch.rejected:
        done.append(pio.presampled(branch.rejected, pio.REJECTED_PER_REASON, f"{name}/rejected/presample")
                    | f"{name}/rejected/write" >> pio.WriteRejected(output))
    if branch.categories:
        done.append(branch.categories | f"{name}/categories/flatten" >> beam.Flatten()
                    | f"{name}/categories/write" >> WriteCategories(output, name))
    branch.dead_letters = (branch.errors | f"{name}/errors/flatten" >> beam.Flatten()) if branch.errors else \
        (p | f"{name}/errors/none" >> beam.Create([]))
    done.append(branch.dead_letters | f"{name}/errors/write" >> pio.WriteErrors(output, name))
    return done
