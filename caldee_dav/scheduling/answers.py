"""Answers to an event type's questions, as a booking or a lead gives them: checked against the
questions and stored as ``{questionId, label, value}``.

Its own module so that bookings and leads share one check without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from caldee_dav.errors import InvalidInput, Problem
from caldee_dav.models import EventType

# Question types whose answer must be one of the options.
SINGLE_CHOICE_TYPES = {"select", "radio", "dropdown", "choice"}
# One answer's text at most (a question is a form field, not a document).
MAX_ANSWER_LENGTH = 10_000


def validate_answers(
    event_type: EventType, answers: Sequence[tuple[str, str]], *, require_all: bool = True
) -> list[dict[str, Any]]:
    """Answers as stored ({questionId, label, value}); 400 naming every unknown, repeated, too long,
    invalid or (with ``require_all``) missing answer at once. A lead gives its answers so far:
    ``require_all=False`` lets required questions stay unanswered."""
    questions = {str(q.get("id")): q for q in event_type.questions or []}
    problems: list[Problem] = []
    given: dict[str, str] = {}
    unknown: list[str] = []
    for index, (qid, value) in enumerate(answers):
        path = ("answers", index, "question_id")
        if qid not in questions:
            unknown.append(qid)
            problems.append(Problem(path, f"unknown question {qid!r}", "unknown_question"))
        elif qid in given:
            problems.append(Problem(path, f"question {qid!r} is answered twice", "duplicate"))
        elif len(value) > MAX_ANSWER_LENGTH:
            message = f"must be at most {MAX_ANSWER_LENGTH} characters"
            problems.append(Problem(("answers", index, "value"), message, "too_long"))
        else:
            given[qid] = value
            problems += _option_problems(questions[qid], index, value)
    if require_all:
        problems += _missing_problems(questions, given)
    if problems:
        if unknown:
            known = ", ".join(questions) or "none"
            message = f"Unknown question id(s): {', '.join(unknown)}; this event type asks: {known}."
            raise InvalidInput(message, problems=problems)
        raise InvalidInput.about(problems)
    return [{"questionId": qid, "label": questions[qid].get("label"), "value": v} for qid, v in given.items()]


def _option_problems(question: dict[str, Any], index: int, value: str) -> list[Problem]:
    options = [str(o) for o in question.get("options") or []]
    single_choice = str(question.get("type", "")).lower() in SINGLE_CHOICE_TYPES
    if options and single_choice and value not in options:
        message = f"must be one of: {', '.join(options)}"
        return [Problem(("answers", index, "value"), message, "not_an_option")]
    return []


def _missing_problems(questions: dict[str, dict[str, Any]], given: dict[str, str]) -> list[Problem]:
    missing = [q for qid, q in questions.items() if q.get("required") and not given.get(qid, "").strip()]
    return [
        Problem(
            ("answers",),
            f"required question {q.get('label') or q.get('id')} ({q.get('id')}) is not answered",
            "required",
        )
        for q in missing
    ]
