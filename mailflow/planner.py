"""The agenda builder: members' items and a meeting's length in, a time-boxed agenda out.

How the agenda is built (pure, deterministic):

1. **Standing items** come first, in the configured order, except any whose title starts
   with "Any other business" or "AOB", which go last. If the standing items alone are
   longer than the meeting, the last ones are shortened, then dropped, until they fit;
   the first one (the welcome) is always kept, shortened to the meeting's length if need be.
2. **Submitted items** (questions and agenda items; withdrawn ones are ignored) are taken
   in this order: items already deferred from earlier meetings first (the more often
   deferred, the earlier), then by the coordinator's priority (higher first), then by
   members' votes (higher first), then in the order they arrived.
3. Each is fitted greedily, in that order, into the time left after the standing items.
   An agenda item needs its requested minutes (or the default item length); a question
   needs the question length. An item that needs more than is left is skipped, and later,
   smaller items may still fit. The total never exceeds the meeting's length.
4. Each agenda item that fits gets its own slot, presented by the member who sent it.
   The questions that fit share one "Questions" slot after the agenda items and before
   "Any other business".
5. Corrections to the last minutes (agenda items titled "Correction to the minutes: ...")
   are fitted before every other item, each with the question length, and share one
   "Approval of the minutes" slot straight after the first standing item (or fill a
   standing item of that name, if the group has one).
6. Nothing is silently dropped: an agenda item that does not fit is **deferred** to the
   next meeting; a question that does not fit is sent for a **written answer**; a
   question or item the coordinator already marked "written-answer" stays there (one
   carried over from an earlier meeting says it is still waiting). Each gets a short
   reason, e.g. "the meeting's 90 minutes were full".

Items from members who sent apologies are planned like any other: they are raised in the
member's absence, and the agenda says so beside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

KINDS = ("question", "agenda")
IGNORED_KINDS = ("apology", "resource")
STATUSES = ("proposed", "scheduled", "deferred", "written-answer", "withdrawn")
_AOB_RE = re.compile(r"\s*(any other business|aob)\b", re.IGNORECASE)
CORRECTION_PREFIX = "Correction to the minutes"
APPROVAL_TITLE = "Approval of the minutes"


@dataclass(frozen=True)
class PlannerItem:
    """One submitted question or agenda item, with what decides its place."""

    id: int
    kind: str
    title: str
    member: str
    presenter: str
    minutes: int | None
    priority: int = 0
    votes: int = 0
    carried: int = 0
    submitted_order: int = 0
    status: str = "proposed"
    absent: bool = False  # the member sent apologies: raised in their absence


@dataclass(frozen=True)
class Slot:
    """One block of the meeting: a standing item, an agenda item, or the questions."""

    title: str
    kind: str
    minutes: int
    items: tuple[int, ...]
    presenter: str | None


@dataclass(frozen=True)
class Agenda:
    """The planned meeting, and what happens to every item that did not fit."""

    total_minutes: int
    slots: tuple[Slot, ...]
    scheduled: tuple[int, ...]
    deferred: tuple[int, ...]
    written_answer: tuple[int, ...]
    reasons: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self, meeting_ref: str) -> dict[str, object]:
        """The DESIGN.md agenda JSON shape, plus ``written_answer``.

        Parameters:
            meeting_ref: the meeting's ref, shown as ``meeting``.

        Returns:
            ``{"meeting", "total_minutes", "slots": [{"title", "kind", "minutes",
            "items", "presenter"}], "deferred", "written_answer"}``.
        """
        return {
            "meeting": meeting_ref,
            "total_minutes": self.total_minutes,
            "slots": [
                {
                    "title": s.title,
                    "kind": s.kind,
                    "minutes": s.minutes,
                    "items": list(s.items),
                    "presenter": s.presenter,
                }
                for s in self.slots
            ],
            "deferred": list(self.deferred),
            "written_answer": list(self.written_answer),
        }


def is_aob(title: str) -> bool:
    """Whether a standing item is "Any other business" (or "AOB"), which goes last."""
    return _AOB_RE.match(title) is not None


def _standing_slots(titles: Sequence[str], minutes: int, meeting_minutes: int) -> list[Slot]:
    """Standing slots in agenda order, shortened or dropped from the end to fit."""
    ordered = [t for t in titles if not is_aob(t)] + [t for t in titles if is_aob(t)]
    slots, left = [], meeting_minutes
    for title in ordered:
        given = min(minutes, left)
        if given > 0 or minutes == 0:
            slots.append(
                Slot(title=title, kind="standing", minutes=given, items=(), presenter=None)
            )
        left -= given
    if not slots and ordered:
        # Even a zero-length meeting keeps its first standing item: it is the welcome.
        slots.append(Slot(ordered[0], "standing", 0, (), None))
    return slots


def is_correction(item: PlannerItem) -> bool:
    """Whether an item is a member's correction to the last meeting's minutes."""
    return item.kind == "agenda" and item.title.startswith(CORRECTION_PREFIX)


def _sort_key(item: PlannerItem) -> tuple[bool, int, int, int, int, int]:
    return (not is_correction(item), -item.carried, -item.priority, -item.votes,
            item.submitted_order, item.id)  # fmt: skip


def _candidates(items: Sequence[PlannerItem]) -> list[PlannerItem]:
    """The items to plan, in priority order; `ValueError` on an unknown kind or status."""
    keep = []
    for item in items:
        if item.kind not in KINDS + IGNORED_KINDS:
            raise ValueError(f"item {item.id}: unknown kind {item.kind!r}")
        if item.status not in STATUSES:
            raise ValueError(f"item {item.id}: unknown status {item.status!r}")
        if item.kind in KINDS and item.status != "withdrawn":
            keep.append(item)
    return sorted(keep, key=_sort_key)


def _no_fit_reason(need: int, free: int, meeting_minutes: int) -> str:
    """Why an item needing `need` minutes did not fit, in a few words."""
    if need > meeting_minutes:
        return f"asked for {need} minutes; the meeting is {meeting_minutes}"
    if need > free:
        return (
            f"asked for {need} minutes; only {free} of the meeting's {meeting_minutes} "
            "are free after the standing items"
        )
    return f"the meeting's {meeting_minutes} minutes were full"


@dataclass
class _Fit:
    """Working state while items are fitted (internal, mutable on purpose)."""

    left: int
    agenda: list[PlannerItem] = field(default_factory=list)
    questions: list[PlannerItem] = field(default_factory=list)
    corrections: list[PlannerItem] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


def _fit(
    ordered: Sequence[PlannerItem], *, free: int, meeting_minutes: int, default_minutes: int,
    question_minutes: int,
) -> _Fit:  # fmt: skip
    """Greedily place `ordered` into `free` minutes, recording what did not fit and why."""
    fit = _Fit(left=free)
    for item in ordered:
        if item.status == "written-answer":
            fit.written.append(item.id)
            fit.reasons[item.id] = (
                "carried over, still waiting for a written answer" if item.carried
                else "marked for a written answer by the coordinator"
            )  # fmt: skip
            continue
        is_question = item.kind == "question"
        short = is_question or is_correction(item)
        need = question_minutes if short else _requested(item, default_minutes)
        if need <= fit.left:
            fit.left -= need
            if is_correction(item):
                fit.corrections.append(item)
            else:
                (fit.questions if is_question else fit.agenda).append(item)
            continue
        (fit.written if is_question else fit.deferred).append(item.id)
        fit.reasons[item.id] = _no_fit_reason(need, free, meeting_minutes)
    return fit


def _requested(item: PlannerItem, default_minutes: int) -> int:
    """An agenda item's minutes: its request, or the default when it made none."""
    return item.minutes if item.minutes is not None and item.minutes > 0 else default_minutes


def build_agenda(
    items: Sequence[PlannerItem], *, meeting_minutes: int, default_item_minutes: int,
    question_minutes: int, standing_items: Sequence[str], standing_item_minutes: int,
) -> Agenda:  # fmt: skip
    """Plan a meeting: standing items, then submitted items, time-boxed (see module doc).

    Parameters:
        items: the meeting's questions and agenda items (apologies/resources are ignored).
        meeting_minutes: the meeting's length; the agenda never runs longer.
        default_item_minutes: an agenda item's length when it asked for none.
        question_minutes: the time each question gets in the Questions slot.
        standing_items: titles of the items every meeting has, in order.
        standing_item_minutes: the time each standing item gets.

    Returns:
        The `Agenda`: slots in order, and which items were scheduled, deferred or sent
        for a written answer, with reasons.

    Raises:
        ValueError: a negative length, or an item of unknown kind or status.
    """
    if min(meeting_minutes, default_item_minutes, question_minutes, standing_item_minutes) < 0:
        raise ValueError("meeting and item lengths must not be negative")
    standing = _standing_slots(standing_items, standing_item_minutes, meeting_minutes)
    head = [s for s in standing if not is_aob(s.title)]
    tail = [s for s in standing if is_aob(s.title)]
    free = meeting_minutes - sum(s.minutes for s in standing)
    fit = _fit(
        _candidates(items), free=free, meeting_minutes=meeting_minutes,
        default_minutes=default_item_minutes, question_minutes=question_minutes,
    )  # fmt: skip
    middle = [
        Slot(i.title, "agenda", _requested(i, default_item_minutes), (i.id,), i.presenter)
        for i in fit.agenda
    ]
    if fit.questions:
        ids = tuple(q.id for q in fit.questions)
        middle.append(Slot("Questions", "questions", question_minutes * len(ids), ids, None))
    if fit.corrections:
        head = _with_corrections(head, fit.corrections, question_minutes)
    slots = (*head, *middle, *tail)
    return Agenda(
        total_minutes=sum(s.minutes for s in slots),
        slots=slots,
        scheduled=tuple(i for s in (*head, *middle) for i in s.items),
        deferred=tuple(fit.deferred),
        written_answer=tuple(fit.written),
        reasons=MappingProxyType(dict(fit.reasons)),
    )


def _with_corrections(
    head: list[Slot], corrections: Sequence[PlannerItem], question_minutes: int
) -> list[Slot]:
    """The standing slots with the corrections under "Approval of the minutes"."""
    ids = tuple(c.id for c in corrections)
    minutes = question_minutes * len(ids)
    for n, slot in enumerate(head):
        if slot.title.strip().lower().startswith(APPROVAL_TITLE.lower()):
            merged = Slot(slot.title, "minutes", slot.minutes + minutes, ids, None)
            return [*head[:n], merged, *head[n + 1 :]]
    return [*head[:1], Slot(APPROVAL_TITLE, "minutes", minutes, ids, None), *head[1:]]


def _listed(slot: Slot) -> bool:
    """Slots whose items are listed one by one under the slot's title."""
    return slot.kind in ("questions", "minutes")


ABSENCE = "apologies sent, raised in their absence"


def _who(item: PlannerItem | None) -> str:
    if item is None or not item.presenter:
        return ""
    return f" ({item.presenter}; {ABSENCE})" if item.absent else f" ({item.presenter})"


def _presenter(slot: Slot, items: Mapping[int, PlannerItem]) -> str:
    """The slot's presenter, with a note when they sent apologies."""
    if not slot.presenter:
        return ""
    first = items.get(slot.items[0]) if slot.items else None
    return f"{slot.presenter} ({ABSENCE})" if first is not None and first.absent else slot.presenter


def _title(item_id: int, items: Mapping[int, PlannerItem]) -> str:
    item = items.get(item_id)
    return item.title.strip() if item is not None else f"item #{item_id}"


def _leftover(item_id: int, agenda: Agenda, items: Mapping[int, PlannerItem]) -> str:
    """``Title (Presenter): reason`` for an item that did not fit."""
    reason = agenda.reasons.get(item_id, "")
    text = f"{_title(item_id, items)}{_who(items.get(item_id))}"
    return f"{text}: {reason}" if reason else text


def _leftover_sections(agenda: Agenda) -> list[tuple[str, tuple[int, ...]]]:
    return [
        ("Deferred to the next meeting", agenda.deferred),
        ("For a written answer", agenda.written_answer),
    ]


def render_text(agenda: Agenda, items: Mapping[int, PlannerItem], *, heading: str) -> str:
    """The agenda as plain text: numbered slots with minutes, then what did not fit.

    Parameters:
        agenda: the planned agenda.
        items: every item by id, for titles and presenters.
        heading: the first line, e.g. the meeting's title and time.

    Returns:
        Text ending in a newline.
    """
    lines = [heading, "=" * len(heading), ""]
    for number, slot in enumerate(agenda.slots, start=1):
        presenter = f" - {_presenter(slot, items)}" if slot.presenter else ""
        lines.append(f"{number:>2}. {slot.title} ({slot.minutes} min){presenter}")
        if _listed(slot):
            lines += [f"    - {_title(i, items)}{_who(items.get(i))}" for i in slot.items]
    lines += ["", f"Total: {agenda.total_minutes} min"]
    for title, ids in _leftover_sections(agenda):
        if ids:
            lines += ["", f"{title}:"]
            lines += [f"  - {_leftover(i, agenda, items)}" for i in ids]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Row:
    """One slot as the agenda's table shows it (the invite's HTML, `agenda --format html`)."""

    number: int
    starts: str  # the local clock time the slot starts, e.g. "16:10"
    title: str
    minutes: int
    presenter: str
    entries: tuple[str, ...]  # the questions (or corrections) listed under the slot


def table_context(
    agenda: Agenda, items: Mapping[int, PlannerItem], *, start: datetime
) -> dict[str, object]:
    """What the agenda table template needs: a row per slot, timed from `start` (the
    meeting's local start), the total, and the sections of what did not fit."""
    rows, at = [], start
    for number, slot in enumerate(agenda.slots, start=1):
        listed = slot.items if _listed(slot) else ()
        entries = tuple(_title(i, items) + _who(items.get(i)) for i in listed)
        rows.append(Row(number, f"{at:%H:%M}", slot.title, slot.minutes,
                        _presenter(slot, items), entries))  # fmt: skip
        at += timedelta(minutes=slot.minutes)
    leftovers = [
        (title, [_leftover(i, agenda, items) for i in ids])
        for title, ids in _leftover_sections(agenda)
        if ids
    ]
    return {"rows": rows, "total": agenda.total_minutes, "leftovers": leftovers}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown punctuation in member text so it renders as typed."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_markdown(agenda: Agenda, items: Mapping[int, PlannerItem], *, heading: str) -> str:
    """The agenda as Markdown: a numbered list, then sections for what did not fit.

    Member-supplied titles and names are escaped, so they cannot add links or markup.

    Parameters:
        agenda: the planned agenda.
        items: every item by id, for titles and presenters.
        heading: the level-1 heading.

    Returns:
        Markdown text ending in a newline.
    """
    lines = [f"# {md_escape(heading)}", ""]
    for number, slot in enumerate(agenda.slots, start=1):
        presenter = f" — {md_escape(_presenter(slot, items))}" if slot.presenter else ""
        lines.append(f"{number}. **{md_escape(slot.title)}** ({slot.minutes} min){presenter}")
        for i in slot.items if _listed(slot) else ():
            lines.append(f"   - {md_escape(_title(i, items) + _who(items.get(i)))}")
    lines += ["", f"*Total: {agenda.total_minutes} min*"]
    for title, ids in _leftover_sections(agenda):
        if ids:
            lines += ["", f"## {title}", ""]
            for i in ids:
                reason = agenda.reasons.get(i, "")
                text = md_escape(_title(i, items) + _who(items.get(i)))
                lines.append(f"- {text}" + (f": {md_escape(reason)}" if reason else ""))
    return "\n".join(lines) + "\n"
