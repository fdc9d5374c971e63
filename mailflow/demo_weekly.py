"""`mailflow demo --weekly`: three weeks of the weekly chat on the embedded defaults.

The #EdLdrs chat meets online on Mondays, 20:00 to 21:00 UK time, on a theme its
members choose by poll. The demo adds the series, then plays three weeks on a clock it
moves forward itself, running `tick` as cron would: the series' invitation, each
week's theme poll, members' votes and proposed themes as they would write them (sent
over real SMTP to the running server), the poll's close, the week's reminder with its
theme, a member declining one week in their calendar, and the summary the coordinator
wrote after each chat. `say` receives every line of the narration.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import icalendar
from sqlalchemy import select

from mailflow import meetings, members, polls, schedule, series, tick
from mailflow.app import App
from mailflow.demo import GROUP, Say, _free_port, _send, _sent_to, reply_to
from mailflow.models import Meeting, Poll
from mailflow.server import InboundServer

THEMES = ("Managing workload", "Accountability without conflict", "The changing curriculum")
# what each member replies to each week's poll, in their own words (None: no reply)
VOTES = (
    ("Option 2 please!", "I'd go for workload", "Theme: Making initiatives sustainable",
     "2", None, "+1 2"),
    ("Workload, definitely", "3", "Actually, 4", "4", "Option 4", None),
    ("1", "1 - workload again!", "2", None, "I'd go for the curriculum one", "1"),
)  # fmt: skip
SUMMARY = "# {theme}\n\nThank you all for a lively hour. Three ideas we will try:\n\n{ideas}\n"


def write_config(folder: Path) -> Path:
    """The example config with a free port, no terms, and the chat's themes."""
    from mailflow.cli.setup import example_config

    text = example_config(secrets.token_urlsafe(32)).replace(
        "port = 8025", f"port = {_free_port()}"
    )
    text = text.replace("theme_options = []", f"theme_options = {list(THEMES)!r}".replace("'", '"'))
    path = folder / "mailflow.toml"
    path.write_text(text[: text.index("[[terms]]")], encoding="utf-8")
    return path


def run(folder: Path, say: Say) -> Path:
    """Play three weeks of the chat in `folder`; returns the folder the mail went to."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("mailflow.db", "mailflow.db-wal", "mailflow.db-shm"):
        (folder / old).unlink(missing_ok=True)
    app = App.open(write_config(folder))
    now = app.now()
    app.clock = lambda: now
    tz = app.settings.group.tz
    first = schedule.to_local(now, tz).date() + timedelta(days=7)
    first += timedelta(days=-first.weekday() % 7)  # a Monday at least a week away
    with app.session() as session:
        for p in GROUP:
            members.add_member(session, email=p.email, name=p.name, organisation=p.organisation,
                               now=now)  # fmt: skip
        chat = meetings.add_meeting(
            session, app.settings, title="#EdLdrs chat", start=f"{first.isoformat()} 20:00",
            every="Monday 20:00", duration=60, ref="edldrs", now=now,
            location="https://chat.example.org/edldrs",
        )  # fmt: skip
        series.ensure_coming(session, app.settings, now=now)
        say(f"1. {len(GROUP)} members; the series {chat.ref}: {chat.title}, Mondays 20:00, "
            f"from {schedule.human_local(chat.start, tz)}")  # fmt: skip
    server = InboundServer(app, port=_free_port())
    server.start()
    try:
        for week in range(3):
            _week(app, server, week, say)
    finally:
        server.stop()
        app.close()
    return app.settings.maildir


def _at(app: App, when: datetime, say: Say, what: str) -> None:
    """Move the clock to `when` and run `tick` as cron would."""
    app.clock = lambda: when
    done = [line for line in tick.run(app) if not line.startswith("delivered")]
    say(f"   {schedule.human_local(when, app.settings.group.tz)}: tick ({what})")
    for line in done:
        say(f"     {line}")


def _week(app: App, server: InboundServer, week: int, say: Say) -> None:
    with app.session() as session:
        query = select(Meeting).where(Meeting.recurrence_id.is_not(None)).order_by(Meeting.start)
        occurrence = session.scalars(query.offset(week).limit(1)).one()
        ref, start = occurrence.ref, occurrence.start
    say(f"{week + 2}. Week {week + 1}: {ref}")
    _at(app, start - timedelta(hours=143), say, "the theme poll opens")
    _vote(app, server, ref, week, say)
    if week == 1:
        _decline(app, server, ref, say)
    _at(app, start - timedelta(hours=47), say, "the poll closes; its winner is the theme")
    _at(app, start - timedelta(hours=23), say, "the week's reminder")
    with app.session() as session:
        theme = meetings.find_meeting(session, ref).theme
    folder = app.settings.path(app.settings.series.summary_dir)
    folder.mkdir(exist_ok=True)
    ideas = "\n".join(f"- idea {n} from the chat on {theme.lower()}" for n in (1, 2, 3))
    (folder / f"{ref}.md").write_text(SUMMARY.format(theme=theme, ideas=ideas), encoding="utf-8")
    say(f"   after the chat the coordinator writes {folder.name}/{ref}.md")
    _at(app, start + timedelta(hours=2, minutes=30), say, "the summary goes out")


def _vote(app: App, server: InboundServer, ref: str, week: int, say: Say) -> None:
    """Members answer the poll mail from their own reply address."""
    for person, text in zip(GROUP, VOTES[week], strict=True):
        if text is None:
            continue
        poll_mail = _sent_to(app, person.email, "Poll: Theme for")
        signed = f"{text}\n\n{person.name.split()[0]}\n"
        _send(server.port, person.email, *reply_to(app, person, poll_mail, signed))
        server.drain()
        answer = _sent_to(app, person.email, "Re: Poll")
        body = answer.get_body(("plain",))
        lines = str(body.get_content()).strip().splitlines()[1:] if body else []  # no "Dear"
        said = " ".join(" ".join(lines).split())
        say(f'   {person.name}: "{text.splitlines()[0]}" -> {said.split(". To ")[0][:110]}')
    with app.session() as session:
        poll = session.scalar(select(Poll).where(Poll.meeting.has(Meeting.ref == ref)))
        assert poll is not None
        for number, entry in enumerate(poll.proposals or [], 1):
            if not entry["approved"]:
                say(f"   the coordinator approves: {polls.approve(session, poll, number)} "
                    f"(mailflow polls options {poll.id} --approve {number})")  # fmt: skip


def _decline(app: App, server: InboundServer, ref: str, say: Say) -> None:
    """Sam declines this week only in his calendar: Google's "this event only", a REPLY
    with the series' UID and the week's RECURRENCE-ID, sent to the ORGANIZER."""
    sam = next(p for p in GROUP if p.name == "Sam Patel")
    invitation = _sent_to(app, sam.email, "Invitation")
    part = next(p for p in invitation.walk() if p.get_content_type() == "text/calendar")
    event = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")[0]
    with app.session() as session:
        occurrence = meetings.find_meeting(session, ref)
        week = occurrence.start.astimezone(app.settings.group.tz)
    reply = icalendar.Calendar()
    reply.add("prodid", "-//Google Inc//Google Calendar 70.9054//EN")
    reply.add("version", "2.0")
    reply.add("method", "REPLY")
    answer = icalendar.Event()
    for key in ("UID", "SEQUENCE", "ORGANIZER", "SUMMARY"):
        answer[key] = event[key]
    answer.add("recurrence-id", week)
    answer.add("dtstart", week)
    answer.add("dtstamp", app.now())
    answer.add("attendee", f"mailto:{sam.email}",
               parameters={"CN": sam.name, "PARTSTAT": "DECLINED"})  # fmt: skip
    reply.add_component(answer)
    msg = EmailMessage()
    msg["From"] = f"{sam.name} <{sam.email}>"
    msg["To"] = organizer = str(event["ORGANIZER"]).removeprefix("mailto:")
    msg["Subject"] = f"Declined: {event['SUMMARY']} @ {week:%a %d %b %Y %H:%M}"
    msg["Date"] = format_datetime(app.now())
    msg["Message-ID"] = make_msgid(domain=sam.email.split("@")[1])
    msg.set_content(f"{sam.name} has declined this invitation.")
    msg.add_alternative(reply.to_ical().decode(), subtype="calendar", params={"method": "REPLY"})
    _send(server.port, sam.email, organizer, msg.as_bytes(policy=policy.SMTP))
    server.drain()
    with app.session() as session:
        occurrence = meetings.find_meeting(session, ref)
        status = {m.email: s for m, s in meetings.attendance(session, occurrence)}
    say(f"   Sam declines {ref} only, in his calendar: {status[sam.email]} that week")
