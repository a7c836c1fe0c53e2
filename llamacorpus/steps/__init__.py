"""The steps layer: the step contract (:mod:`.base`), the one generic Beam adapter
(:mod:`.adapter`), CCNet's text normalisation (:mod:`.normalize`), and the steps by kind:
:mod:`.clean` (mappers that turn markup into text), :mod:`.filters` (score, then keep or drop),
:mod:`.dedup` (global steps that remove copies). See docs/architecture.md.

The contract is re-exported here: ``from llamacorpus.steps import Filter, Mapper, Drop, BadInput``.
"""
from llamacorpus.steps.base import (KEPT, BadInput, ChainReport, Drop, Filter, Mapper, Note, RunContext,  # noqa: F401
                                    Step, StepResult, apply_batch, apply_filter_scored, apply_mapper, check_reason,
                                    error_kind, error_result, numeric_measures, run_steps)
