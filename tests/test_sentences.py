"""Reading a reply by its sentences: apologies however phrased, several questions in
prose, lead-ins, time asked for in a sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailflow import sentences
from mailflow.replies import extract_items


@pytest.mark.parametrize(
    "text",
    [
        "I'm afraid I'll be at Calshot with Year 6 on their residential that week so won't "
        "see you all on the 19th.",
        "Can't do Monday I'm afraid - it's our Year 11 parents' evening.",
        "Apologies for tonight - stuck at school with a safeguarding issue.",
        "Ymddiheuriadau, ni fyddaf yn gallu ymuno nos Lun.",
        "Unfortunately I won't be able to join you this time.",
        "I'll miss this one - SATs moderation.",
        "Sorry, I'm not going to be able to make it on Thursday.",
        "Off sick this week, sorry.",
        "I'll have to give this one a miss.",
        "Not going to make it I'm afraid.",
        "I have a clash with governors that evening.",
        "I'm not available on the 19th.",
        "Hi all - I'm not going to be there on Monday night, parents evening.",
    ],
)
def test_absence_however_phrased(text: str) -> None:
    assert sentences.absence(text)


@pytest.mark.parametrize(
    "text",
    [
        "Sorry for the late reply.",
        "I can't make sense of the new funding formula.",
        "We cannot do much about the budget this year.",
        "What do we do if a governor can't make the panel?",
        "Sorry to hear about the flooding at your school.",
        "I'm at a loss with the new attendance codes.",
        "Could we put moderation on the agenda please, the dates clash with our residential.",
        "Could we discuss staff who are off sick long term?",
        "Unfortunately we can't make the 3pm slot work for our staff.",
    ],
)
def test_not_absence(text: str) -> None:
    assert not sentences.absence(text)


def test_sentences_split_at_ends_and_lead_in_colons() -> None:
    assert sentences.sentences(
        "Two things I'd love views on: how are people handling it? And has anyone\n"
        "found a supplier, e.g. for KS3? Thanks."
    ) == [
        "Two things I'd love views on:",
        "how are people handling it?",
        "And has anyone found a supplier, e.g. for KS3?",
        "Thanks.",
    ]


def _items(text: str) -> list[tuple[str, str, str, int | None]]:
    return [(i.kind, i.title, i.body, i.minutes) for i in extract_items(text).items]


def test_a_question_beside_an_apology_is_an_item_and_a_notes_request_is_not() -> None:
    assert _items(
        "Can't do Monday I'm afraid - parents' evening. Could someone send me the notes?\n\n"
        "Has anyone costed the pay award yet? Our plan assumed 3%."
    ) == [
        ("apology", "Apologies",
         "Can't do Monday I'm afraid - parents' evening. Could someone send me the notes?", None),
        ("question", "Has anyone costed the pay award yet?", "Our plan assumed 3%.", None),
    ]  # fmt: skip


def test_an_apology_under_a_marked_item_is_not_its_details() -> None:
    assert _items(
        "Item: Budget [10m]\nWe need to talk.\n\nI'm afraid I won't be there on the 19th."
    )[0] == ("apology", "Apologies", "I'm afraid I won't be there on the 19th.", None)


def test_a_lead_in_titles_nothing_and_each_question_counts() -> None:
    assert _items("A couple of questions from me: how is everyone staffing breakfast club? "
                  "Also, is anyone charging for the early slot?") == [
        ("question", "How is everyone staffing breakfast club?", "", None),
        ("question", "Is anyone charging for the early slot?", "", None),
    ]  # fmt: skip


def test_questions_one_a_line_under_a_lead_in_stay_one_item() -> None:
    items = _items("A few questions:\n\nHow is breakfast club staffed?\nIs anyone charging?")
    assert items == [("question", "How is breakfast club staffed?", "Is anyone charging?", None)]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("Could we have the budget on the agenda for 10 minutes please.", 10),
        ("I'd like to show our new tracker - a 15 minute slot would be ideal.", 15),
        ("Item: Tracker\nWe'd need about 20 minutes to go through it.", 20),
        ("Could we discuss the tracker? We spent 20 minutes on it last time.", None),
    ],
)
def test_time_asked_for_in_a_sentence(text: str, minutes: int | None) -> None:
    assert _items(text)[0][3] == minutes


@given(st.text())
def test_sentence_rules_never_raise(text: str) -> None:
    said = sentences.sentences(text)
    for sentence in said:
        sentences.absence(sentence)
        sentences.lead_in(sentence)
        sentences.proposal(sentence)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Hi Sam, can you withdraw 7 please, we sorted it with the LA.", (7,)),
        ("Hi,\n\nWe sorted the transport issue so please withdraw item 5.\n\nThanks", (5,)),
        ("Should we withdraw from the 3 trusts scheme?", ()),
    ],
)
def test_withdrawals_in_a_sentence(text: str, numbers: tuple[int, ...]) -> None:
    reply = extract_items(text)
    assert reply.withdraw == numbers
    assert bool(reply.items) == (not numbers)


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour,\n\nQ: Comment gérez-vous les absences?\n\n"
        "Je ne pourrai pas être présente jeudi, désolée.",
        "Hallo,\n\nDanke für die Einladung.\n\nLeider kann ich am Donnerstag nicht teilnehmen.",
    ],
)
def test_an_apology_in_another_language_in_a_later_paragraph(text: str) -> None:
    reply = extract_items(text)
    assert reply.apologies and reply.items[0].kind == "apology"
    assert "?" not in reply.items[0].body
