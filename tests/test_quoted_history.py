"""Quoted history under a reply, found without the mail it answers: attribution lines
wrapped, in other languages and orders, decorated separators, forwarded header blocks,
trailing separators and tracking marks. The member's own lines are never lost."""

from __future__ import annotations

import pytest

from mailflow.cleaning import member_text

SHAPES = {
    "wrapped-address": "On Mon, Apr 24, 2017 at 9:12 AM, Bob Smith <\nbob@x.org> wrote:\n\n"
    "> Does Thursday work?\n> Bob\n",
    "german-time-in-attribution": "Max Mustermann <max@example.de> schrieb am Fr., 28.\n"
    "Apr. 2017 um 11:53 Uhr:\n\n> Hallo,\n> wie wäre es mit Freitag?\n",
    "iso-date-no-wrote-word": "2016-03-03 17:21 GMT+01:00 Jane Doe <jane@example.com>:\n\n"
    "> Shall we meet?\n",
    "russian": "12 марта 2017 г., 10:15 пользователь Иван Петров <ivan@example.ru>\n"
    "написал:\n\n> Привет!\n",
    "outlook-mobile-then-thread": "Sent from Outlook Mobile\n\n\n\nOn Tue, Mar 14, 2017 at "
    '3:05 PM -0700, "Jo" <jo@example.com> wrote:\n\nAre you coming?\nJo\n',
    "bold-original-message": "*-------- Original Message --------*\n*Subject:* Budget\n"
    "*From:* Jo <jo@example.com>\n*Date:* 3 Mar 2017\n\nHere is the budget.\n",
    "header-block-spaced": "From: Jo Bloggs <jo@example.com>\n\nSent: Monday, 3 April 2017 "
    "10:00\n\nTo: Sam <sam@example.com>\n\nSubject: Budget\n\nHere is the budget.\n",
    "header-block-date-first": "Date: Mon, 3 Apr 2017 10:00\nFrom: Jo <jo@example.com>\n"
    "To: Sam\nSubject: Budget\n\nHere it is.\n",
    "french-headers": "De : Jo Bloggs <jo@example.com>\nEnvoyé : lundi 3 avril 2017 10:00\n"
    "À : Sam\nObjet : Budget\n\nVoici le budget.\n",
    "polish-headers": "Od: Jo Bloggs <jo@example.com>\nWysłano: poniedziałek, 3 kwietnia 2017\n"
    "Do: Sam\nTemat: Budżet\n\nBudżet w załączniku.\n",
    "separator-line": "------------------------------\n\nOn 3 April 2017, Jo wrote:\n"
    "> Budget attached\n",
    "tracking-mark": "\u034f\n",
}
OWN = "Thanks, that works for me.\nI'll bring the figures on Thursday."


@pytest.mark.parametrize("shape", SHAPES)
def test_quoted_history_goes_and_the_members_lines_stay(shape: str) -> None:
    assert member_text(f"{OWN}\n\n{SHAPES[shape]}") == OWN


def test_a_line_like_a_header_inside_an_item_is_kept() -> None:
    text = "Q: Date: when is the moderation?\nTo: all staff\nItem: a thing"
    assert member_text(text) == text


def test_a_pointer_into_outlooks_copy_reads_what_was_typed_there() -> None:
    text = (
        "My answers in red below, Jo.\n\nFrom: Solent Forum <forum@example.org>\n"
        "Sent: 28 May 2026 08:00\nTo: Gareth\nSubject: Call for items\n\nDear Gareth,\n\n"
        "Q: Has anyone had the new SEND inspection yet?\n\nSolent Forum\n"
    )
    assert member_text(text) == "Q: Has anyone had the new SEND inspection yet?"
