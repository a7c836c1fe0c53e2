"""Questions with their answers (Stack Exchange): one document per question, a global step.

Posts are grouped by (site, question id) with a GroupByKey, so an answer may come before its
question, in another bundle or another file. A question becomes one document; its answers are
folded into it (counted as ``answer_merged``: their text is in the question's document), answers
whose question is absent as ``orphan_answer``, a post seen twice as ``duplicate_post``. Answers
are sorted by their score as a number, highest first; equal scores put the accepted answer first,
then the older (lower id). The layout of the text is in :mod:`llamacorpus.sources.stackexchange`.
"""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from llamacorpus.document import Document, make_document
from llamacorpus.steps import Drop
from llamacorpus.steps.adapter import GlobalStep, StepOutputs


def answer_order(answer: Document, accepted: int | None) -> tuple:
    meta = answer["meta"]
    return -meta["score"], meta["post_id"] != accepted, meta["post_id"]


def thread_text(title: str, question: str, answers: list[str]) -> str:
    parts = [f"Question: {title.strip()}".rstrip()]
    if question.strip():
        parts.append(question.strip())
    parts.extend(f"Answer:\n{a.strip()}" for a in answers if a.strip())
    return "\n\n".join(parts)


def assemble_thread(element) -> Iterator[tuple]:
    """``((site, question id), posts)`` -> ``(post, decision)`` for every post: the question's
    decision is the question's document, its answers' ``answer_merged``."""
    (site, question_id), posts = element
    unique: dict[int, Document] = {}
    for post in sorted(posts, key=lambda p: (p["meta"]["post_id"], p["meta"]["location"])):
        if post["meta"]["post_id"] in unique:
            yield post, Drop("duplicate_post", post)
        else:
            unique[post["meta"]["post_id"]] = post
    question = unique.get(question_id)
    answers = [p for p in unique.values() if p["meta"]["post_type"] == "answer"]
    if question is None or question["meta"]["post_type"] != "question":
        for post in unique.values():
            yield post, Drop("orphan_answer", post)
        return
    qmeta = question["meta"]
    answers.sort(key=lambda a: answer_order(a, qmeta["accepted_answer_id"]))
    doc = make_document(
        "stackexchange", f"{site}/{question_id}",
        thread_text(qmeta["title"], question["text"], [a["text"] for a in answers]),
        site=site, question_id=question_id, url=f"https://{site}/questions/{question_id}",
        title=qmeta["title"], score=qmeta["score"], answer_count=len(answers),
        accepted_answer_id=qmeta["accepted_answer_id"], tags=qmeta["tags"], timestamp=qmeta["timestamp"],
        answer_ids=[a["meta"]["post_id"] for a in answers], answer_scores=[a["meta"]["score"] for a in answers],
        site_rank=qmeta.get("site_rank"), location=qmeta["location"])
    yield question, doc
    for answer in answers:
        yield answer, Drop("answer_merged", answer)


class JoinAnswers(GlobalStep):
    """Posts -> one document per question with its answers (a GroupByKey on the question id)."""

    name = "join_answers"

    def expand(self, posts) -> StepOutputs:
        threads = (posts
                   | "Key" >> beam.Map(lambda d: ((d["meta"]["site"], d["meta"]["question_id"]), d))
                   | "Group" >> beam.GroupByKey()
                   | "Assemble" >> beam.FlatMap(assemble_thread))
        return self.decide(threads)
