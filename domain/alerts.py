"""Alert generation: a program's alert rules turn a survey return into a case, an FYI or nothing.

Pure functions over the program's data, so the rules are easy to test and to explain: the
decision lists every rule that matched and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.program import ConcernRule, FyiRule, LowScoreRule, ProgramIn, QuestionIn
from domain.vocabulary import AlertOutcome, Priority, QuestionType

Answer = bool | int | str
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


class AnswerError(ValueError):
    """An answer that does not fit the program's questions; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class MatchedRule:
    id: str
    kind: str
    detail: str


@dataclass
class Decision:
    outcome: AlertOutcome
    matched: list[MatchedRule] = field(default_factory=list)
    reason: str = ""
    verbatim: str = ""
    category: str = ""
    priority: str = "normal"
    fyi_type: str | None = None
    fyi_text: str = ""


def normalise_answers(
    questions: list[QuestionIn], answers: dict[str, Answer]
) -> dict[str, bool | int | str]:
    """Check every answer against its question; unknown question ids are errors."""
    by_id = {q.id: q for q in questions}
    out: dict[str, bool | int | str] = {}
    for qid, value in answers.items():
        where = f"answers.{qid}"
        q = by_id.get(qid)
        if q is None:
            raise AnswerError(where, f"Unknown question {qid!r} for this program")
        if q.type == QuestionType.YES_NO:
            text = str(value).strip().lower()
            if isinstance(value, bool):
                out[qid] = value
            elif text in YES or text in NO:
                out[qid] = text in YES
            else:
                raise AnswerError(where, f"{qid} is a yes/no question; got {value!r}")
        elif q.type == QuestionType.SCORE:
            score: int | None = None
            if isinstance(value, int) and not isinstance(value, bool):
                score = value
            elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
                score = int(value.strip())
            if score is None or not q.min <= score <= q.max:
                raise AnswerError(where, f"{qid} takes a whole number from {q.min} to {q.max}")
            out[qid] = score
        else:
            if not isinstance(value, str):
                raise AnswerError(where, f"{qid} is a text question; give a string")
            out[qid] = value.strip()
    return out


def evaluate(program: ProgramIn, answers: dict[str, bool | int | str], comments: str) -> Decision:
    """Apply every alert rule; case rules win over FYI rules, FYI over nothing."""
    questions = {q.id: q for q in program.questions}
    case_hits: list[tuple[MatchedRule, str, str, str]] = []  # rule, reason, category, priority
    fyi_hits: list[tuple[MatchedRule, str, str]] = []  # rule, type, text
    explanations: list[str] = []
    for rule in program.alert_rules:
        if isinstance(rule, ConcernRule):
            if answers.get(rule.question) is not True:
                continue
            explanation = str(answers.get(rule.explanation, "")) if rule.explanation else ""
            reason = explanation or "The customer reported a concern (no details given)"
            if explanation:
                explanations.append(explanation)
            hit = MatchedRule(rule.id, rule.kind, f"{rule.question} answered yes")
            case_hits.append((hit, reason, rule.category, rule.priority))
        elif isinstance(rule, LowScoreRule):
            score = answers.get(rule.question)
            if not isinstance(score, int) or isinstance(score, bool) or score > rule.at_most:
                continue
            q = questions[rule.question]
            detail = f"{q.text} ({q.id}): {score}/{q.max}, alert at {rule.at_most} or below"
            reason = f"Low score on {detail}"
            case_hits.append(
                (MatchedRule(rule.id, rule.kind, detail), reason, rule.category, rule.priority)
            )
        elif isinstance(rule, FyiRule):
            text = str(answers.get(rule.question, "")) if rule.question else comments.strip()
            if not text:
                continue
            detail = f"{rule.fyi_type}: {rule.question or 'comments'} given"
            if rule.score_question is not None and rule.min_score is not None:
                score = answers.get(rule.score_question)
                if not isinstance(score, int) or isinstance(score, bool):
                    continue
                if score < rule.min_score:
                    continue
                detail += f", {rule.score_question} = {score} (at least {rule.min_score})"
            fyi_hits.append((MatchedRule(rule.id, rule.kind, detail), rule.fyi_type, text))
    if case_hits:
        words = [*explanations, comments.strip()]
        return Decision(
            outcome=AlertOutcome.CASE,
            matched=[h[0] for h in case_hits],
            reason="; ".join(h[1] for h in case_hits),
            verbatim="\n\n".join(w for w in words if w),
            category=case_hits[0][2],
            priority=max(
                (h[3] for h in case_hits), key=lambda p: list(Priority).index(Priority(p))
            ),
        )
    if fyi_hits:
        first = fyi_hits[0]
        return Decision(
            outcome=AlertOutcome.FYI,
            matched=[h[0] for h in fyi_hits],
            fyi_type=first[1],
            fyi_text="\n\n".join(dict.fromkeys(h[2] for h in fyi_hits)),
        )
    return Decision(outcome=AlertOutcome.NONE)
