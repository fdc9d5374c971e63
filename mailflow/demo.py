"""`mailflow demo`: a whole term on the embedded defaults, narrated step by step.

It writes a config in the demo folder (SQLite, maildir, the inbound server on a free
local port), sets up a group from the termly-meeting story, and then does what the
coordinator and the members would: call for items, realistic replies from several mail
clients sent over real SMTP to the running server, the agenda, invites, calendar
RSVPs, and the minutes. `say` receives every line of the narration.
"""

from __future__ import annotations

import email
import secrets
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy, utils
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

import icalendar
from sqlalchemy import func, select

from mailflow import actions, answers, meetings, members, planning, schedule, tick
from mailflow.app import App
from mailflow.items import meeting_items
from mailflow.models import InboundMessage, Meeting, OutboxMessage
from mailflow.outbox import deliver
from mailflow.sendminutes import send_minutes
from mailflow.server import InboundServer

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoMember:
    """One member of the demo group and the reply they send."""

    email: str
    name: str
    organisation: str
    reply: str | None  # file under mailflow/templates/demo/, None = no reply
    rsvp: str | None  # ACCEPTED, DECLINED or TENTATIVE; None = never answers (and comes)


GROUP = (
    DemoMember("jane.smith@hamble.hants.sch.uk", "Jane Smith", "Hamble Primary",
               "jane-gmail.eml", "ACCEPTED"),
    DemoMember("sam.patel@westend.hants.sch.uk", "Sam Patel", "West End Primary",
               "sam-outlook.eml", "DECLINED"),
    DemoMember("ruth.evans@bursledon.hants.sch.uk", "Ruth Evans", "Bursledon Infants",
               "ruth-apple.eml", "ACCEPTED"),
    DemoMember("tom.hughes@stjames.hants.sch.uk", "Tom Hughes", "St James' CE Primary",
               "tom-thunderbird.eml", "TENTATIVE"),
    DemoMember("priya.shah@fairoak.hants.sch.uk", "Priya Shah", "Fair Oak Juniors",
               "priya-outlook-web.eml", "ACCEPTED"),
    DemoMember("mark.jones@chandlers.hants.sch.uk", "Mark Jones", "Chandler's Ford Primary",
               None, None),
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_file(name: str) -> str:
    return (resources.files("mailflow.templates") / "demo" / name).read_text("utf-8")


def write_config(folder: Path, now: datetime) -> Path:
    """A config for the demo: the autumn meeting three weeks from now, a free port."""
    from mailflow.cli.setup import example_config

    meeting_day = (now + timedelta(days=21)).date()
    meeting_day += timedelta(days=(3 - meeting_day.weekday()) % 7)  # a Thursday
    text = example_config(secrets.token_urlsafe(32))
    text = text.replace("port = 8025", f"port = {_free_port()}")
    term = (
        '[[terms]]\nname = "autumn-demo"\n'
        f'start = "{(meeting_day - timedelta(days=60)).isoformat()}"\n'
        f'end = "{(meeting_day + timedelta(days=30)).isoformat()}"\n'
        f'meeting = "{meeting_day.isoformat()} 16:00"\n'
        'location = "Teachers\' Centre, Room 2"\n'
        'title = "Autumn DHT meeting"\n'
    )
    text = text[: text.index("[[terms]]")] + term
    path = folder / "mailflow.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _sent_to(app: App, address: str, subject_prefix: str) -> EmailMessage:
    with app.session() as session:
        row = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == address,
                   OutboxMessage.subject.startswith(subject_prefix))
            .order_by(OutboxMessage.id.desc())
        ).first()  # fmt: skip
        assert row is not None, f"no {subject_prefix!r} mail for {address}"
        msg = email.message_from_bytes(row.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


def _send(port: int, mail_from: str, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail(mail_from, [rcpt], data)


def reply_to(app: App, person: DemoMember, mail: EmailMessage, text: str) -> tuple[str, bytes]:
    """A plain reply from `person` to one of our mails, sent to its Reply-To: (the
    signed address it goes to, the message's bytes)."""
    to = mail["Reply-To"].addresses[0].addr_spec
    reply = EmailMessage()
    reply["From"] = f"{person.name} <{person.email}>"
    reply["To"] = to
    reply["Subject"] = f"Re: {mail['Subject']}"
    reply["Date"] = utils.format_datetime(app.now())
    reply["Message-ID"] = utils.make_msgid(domain=person.email.split("@")[1])
    reply.set_content(text)
    return to, reply.as_bytes(policy=policy.SMTP)


def _fill(template: str, **values: str) -> bytes:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def send_replies(app: App, server: InboundServer, say: Say) -> None:
    """Each member answers the call for items from their own mail client."""
    for person in GROUP:
        if person.reply is None:
            say(f"  {person.name} does not reply")
            continue
        call = _sent_to(app, person.email, "Call for items")
        reply_to = call["Reply-To"].addresses[0].addr_spec
        to = app.settings.mail.address if "ruth" in person.reply else reply_to
        data = _fill(_demo_file(person.reply), reply_to=to, subject=str(call["Subject"]),
                     date=utils.format_datetime(app.now()), **{"from": person.email})  # fmt: skip
        _send(server.port, person.email, to, data)
        say(f"  {person.name} replies from {person.reply.split('-')[1].split('.')[0]} to {to}")
    server.drain()


def _rsvp(invite: EmailMessage, person: DemoMember, partstat: str) -> bytes:
    """The iTIP REPLY a member's calendar sends back when they answer the invite."""
    part = next(p for p in invite.walk() if p.get_content_type() == "text/calendar")
    request = icalendar.Calendar.from_ical(part.get_content())
    event = request.walk("VEVENT")[0]
    reply = icalendar.Calendar()
    reply.add("prodid", "-//Google Inc//Google Calendar 70.9054//EN")
    reply.add("version", "2.0")
    reply.add("method", "REPLY")
    answer = icalendar.Event()
    for key in ("UID", "SEQUENCE", "DTSTART", "DTEND", "DTSTAMP", "ORGANIZER", "SUMMARY"):
        answer[key] = event[key]
    answer.add("attendee", f"mailto:{person.email}",
               parameters={"CN": person.name, "PARTSTAT": partstat})  # fmt: skip
    reply.add_component(answer)
    msg = EmailMessage()
    msg["From"] = f"{person.name} <{person.email}>"
    msg["To"] = str(event["ORGANIZER"]).removeprefix("mailto:")
    msg["Subject"] = f"{partstat.title()}: {event['SUMMARY']}"
    msg["Date"] = utils.format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = utils.make_msgid(domain=person.email.split("@")[1])
    said = {"TENTATIVE": "tentatively accepted"}.get(partstat, partstat.lower())
    msg.set_content(f"{person.name} has {said} this invitation.")
    msg.add_alternative(reply.to_ical().decode(), subtype="calendar", params={"method": "REPLY"})
    return msg.as_bytes(policy=policy.SMTP)


def send_rsvps(app: App, server: InboundServer, say: Say) -> None:
    """Each member's calendar answers the invite."""
    for person in GROUP:
        if person.rsvp is None:
            say(f"  {person.name}'s calendar never answers")
            continue
        invite = _sent_to(app, person.email, "Invitation")
        organizer = _rsvp(invite, person, person.rsvp)
        to = email.message_from_bytes(organizer, policy=policy.default)["To"]
        _send(server.port, person.email, str(to), organizer)
        say(f"  {person.name}'s calendar answers {person.rsvp.lower()}")
    server.drain()


def _deliver(app: App) -> int:
    with app.session() as session:
        return deliver(session, app.settings, now=app.now()).sent


def run(folder: Path, say: Say) -> Path:
    """Play the whole term in `folder`; returns the folder the mail was written to."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("mailflow.db", "mailflow.db-wal", "mailflow.db-shm"):
        (folder / old).unlink(missing_ok=True)
    app = App.open(write_config(folder, datetime.now().astimezone()))
    settings = app.settings
    say(f"1. Set up {settings.group.name} in {folder} ({settings.database_url})")
    with app.session() as session:
        for p in GROUP:
            members.add_member(session, email=p.email, name=p.name, organisation=p.organisation,
                               now=app.now())  # fmt: skip
        [(meeting, _)] = meetings.plan_term(session, settings, "autumn-demo", now=app.now())
        ref = meeting.ref
        say(f"   {len(GROUP)} members; meeting {ref}: "
            f"{schedule.human_local(meeting.start, settings.group.tz)}")  # fmt: skip
    server = InboundServer(app, port=_free_port())
    server.start()
    try:
        _term(app, server, ref, say)
    finally:
        server.stop()
        app.close()
    return settings.maildir


def _term(app: App, server: InboundServer, ref: str, say: Say) -> None:
    settings = app.settings
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        queued = planning.call_for_items(session, settings, meeting, now=app.now())
    say(f"2. Call for items: {queued} mails, each from the member's own signed reply address")
    _deliver(app)
    say(f"3. Members reply over SMTP to the server on 127.0.0.1:{server.port}")
    send_replies(app, server, say)
    _show_items(app, ref, say)
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        _, text = planning.agenda_text(session, settings, meeting)
        say("4. The agenda, time-boxed to the meeting's length:")
        for line in text.splitlines():
            say(f"   {line}")
        report = planning.send_invites(session, settings, meeting, now=app.now())
    say(f"5. Invites with a calendar REQUEST: {report.invites} mails")
    _deliver(app)
    say("6. Members' calendars answer")
    send_rsvps(app, server, say)
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        for member, status in meetings.attendance(session, meeting):
            say(f"   {member.name}: {status}")
    _minutes(app, ref, say)
    _written_answer(app, server, ref, say)
    _follow_up(app, server, ref, say)
    _tour(app, say)


def _show_items(app: App, ref: str, say: Say) -> None:
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        for item in meeting_items(session, meeting):
            who = item.member.name if item.member else item.author
            files = f" ({len(item.attachments)} file)" if item.attachments else ""
            say(f"   #{item.id} {item.kind} from {who}: {item.title}{files}")
        acks = session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.subject.startswith("Re:")))  # fmt: skip
        say(f"   every reply was acknowledged ({acks} acknowledgements)")


def _minutes(app: App, ref: str, say: Say) -> None:
    """The coordinator writes the minutes in Markdown and sends them to everyone."""
    path = app.settings.base_dir / "minutes.md"
    path.write_text(_demo_file("minutes.md"), encoding="utf-8")
    report = send_minutes(app, ref, path, [])
    say(f"7. Minutes from {path.name}: {report.queued} copies, absentees included, each with")
    say("   the member's own actions first, the attendance, the questions and the shared files")
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        came = meetings.roll(session, meeting)
        say(f"   {meeting.ref} is now {meeting.status}; who came, from the minutes' Present: "
            "and Apologies: lines (the calendar answers stay as they were):")  # fmt: skip
        say(f"   present: {', '.join(m.name for m in came.present)} (Tom Hughes answered "
            "tentative, Mark Jones never answered)")  # fmt: skip
        say(f"   apologies: {', '.join(m.name for m in came.apologies)}")


def _follow_up(app: App, server: InboundServer, ref: str, say: Say) -> None:
    """The next meeting's call for items carries the open actions, each owner's own
    highlighted; Tom replies "done N" and his action is closed."""
    settings = app.settings
    tom = next(p for p in GROUP if p.name == "Tom Hughes")
    with app.session() as session:
        autumn = meetings.find_meeting(session, ref)
        day = schedule.to_local(autumn.start + timedelta(weeks=12), settings.group.tz).date()
        spring = meetings.add_meeting(session, settings, title="Spring DHT meeting",
                                      start=f"{day.isoformat()} 16:00", now=app.now())  # fmt: skip
        queued = planning.call_for_items(session, settings, spring, now=app.now())
        [action] = [a.id for a in actions.open_before(session, spring) if a.owner_name == tom.name]
        say(f"9. Next meeting {spring.ref}: its call for items ({queued} mails) lists the open "
            f"actions; in {tom.name}'s own, his stand out:")  # fmt: skip
    _deliver(app)
    call = _sent_to(app, tom.email, "Call for items: Spring")
    for line in _text(call).splitlines():
        if line.startswith(">>"):
            say(f"   {line}")
    say("   and what the autumn meeting did not reach is carried over:")
    for line in _text(call).splitlines():
        if "carried over" in line:
            say(f"   {line.strip()}")
    _send(server.port, tom.email, *reply_to(app, tom, call, f"done {action}\n\nThanks,\nTom\n"))
    server.drain()
    answer = next(ln for ln in _text(_sent_to(app, tom.email, "Re:")).splitlines()
                  if "marked done" in ln)  # fmt: skip
    say(f'   {tom.name} replies "done {action}"; the acknowledgement says: {answer.strip()}')


def _written_answer(app: App, server: InboundServer, ref: str, say: Say) -> None:
    """A question the meeting did not reach goes for a written answer; the answer, sent
    after the minutes, reaches every member in one "answers since the meeting" mail."""
    settings = app.settings
    ruth = next(p for p in GROUP if p.name == "Ruth Evans")
    with app.session() as session:
        meeting = meetings.find_meeting(session, ref)
        [question] = [i for i in meeting_items(session, meeting) if "SEND" in i.title]
        question.status = "written-answer"
        answers.assign(session, settings, question.id, ruth.email, now=app.now())
        session.commit()
        title = question.title
    _deliver(app)
    request = _sent_to(app, ruth.email, "Would you answer in writing")
    text = ("We review SEND policy every autumn: draft in October, governors in November. "
            "Happy to share ours.\n\nRuth\n")  # fmt: skip
    _send(server.port, ruth.email, *reply_to(app, ruth, request, text))
    server.drain()
    later = app.now() + timedelta(hours=2)
    app.clock = lambda: later
    done = [line for line in tick.run(app) if "answers" in line]
    say(f'8. "{title}" was not reached: the coordinator asks {ruth.name} for a written answer;')
    say(f"   she replies after the minutes, and tick sends it to everyone: {'; '.join(done)}")


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _tour(app: App, say: Say) -> None:
    _deliver(app)
    with app.session() as session:
        inbound = session.scalars(select(InboundMessage)).all()
        sent = session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == "sent"))  # fmt: skip
        upcoming = session.scalars(select(Meeting)).all()
    say(f"10. {len(inbound)} mails received, all accounted for: "
        + ", ".join(sorted({f"{r.status}" for r in inbound})))  # fmt: skip
    say(f"   {sent} mails sent, written as .eml files to {app.settings.maildir}")
    say(f"   the database is {app.settings.database_url}; try "
        f"`mailflow --config {app.settings.base_dir / 'mailflow.toml'} meetings show "
        f"{upcoming[0].ref}`")  # fmt: skip
