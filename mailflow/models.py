"""The data model: SQLAlchemy 2 typed ORM classes for everything mailflow keeps.

Times are stored as timezone-aware UTC datetimes (`UTCDateTime`), on SQLite and
PostgreSQL alike, and converted to the group's zone only when shown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every mailflow table."""


class Member(Base):
    """A person in the group; `active` is false once removed (history stays)."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    active: Mapped[bool] = mapped_column(default=True)
    bounces: Mapped[int] = mapped_column(default=0)
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the member asked by mail to leave (see `membership`); a reply to the
    # confirmation brings back only someone who left that way
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# members are looked up by address case-insensitively, on the SMTP path too (RCPT)
Index("ix_members_email_lower", func.lower(Member.email))


class Meeting(Base):
    """One meeting, a recurring series (`rrule` set), or one occurrence of a series.

    An occurrence has `series_id` (its series row) and `recurrence_id` (its original
    start, UTC); calendars know it by the series' UID and that RECURRENCE-ID (its own
    `uid` is internal). A series row with `series_id` is an earlier part of the series
    it points to, ended by a move (see `series`).
    """

    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("series_id", "recurrence_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    term: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(300))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="planned")
    sequence: Mapped[int] = mapped_column(default=0)
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    rrule: Mapped[str | None] = mapped_column(String(300), nullable=True)
    exdates: Mapped[str] = mapped_column(Text, default="")  # skipped starts, ISO UTC, commas
    theme: Mapped[str] = mapped_column(Text, default="")  # chosen by poll (the weekly chat)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id"), index=True, nullable=True
    )
    recurrence_id: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    series: Mapped[Meeting | None] = relationship(remote_side=[id], foreign_keys=[series_id])

    items: Mapped[list[Item]] = relationship(
        back_populates="meeting", foreign_keys="Item.meeting_id"
    )
    attendance: Mapped[list[Attendance]] = relationship(back_populates="meeting")

    def skipped(self) -> tuple[datetime, ...]:
        """The starts a weekly series skips (closure days), as UTC datetimes."""
        return tuple(datetime.fromisoformat(x) for x in self.exdates.split(",") if x)

    @property
    def heading(self) -> str:
        """The title with the theme a poll chose, e.g. "Weekly chat: Workload"."""
        return f"{self.title}: {self.theme}" if self.theme else self.title


class Item(Base):
    """Something a member sent for a meeting: question, agenda item, apology or resource."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id"), index=True, nullable=True
    )
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    minutes: Mapped[int | None] = mapped_column(nullable=True)
    priority: Mapped[int] = mapped_column(default=0)
    carried: Mapped[int] = mapped_column(default=0)
    answer: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # who was asked for the written answer, and when it came (see `answers`)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the news digest that carried this post (see `digest`)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("mailings.id"), nullable=True)
    # what the minutes say: True discussed at the meeting, False not reached there (the
    # minutes did not mark it discussed), None until its meeting's minutes are sent
    discussed: Mapped[bool | None] = mapped_column(nullable=True)

    meeting: Mapped[Meeting | None] = relationship(
        back_populates="items", foreign_keys=[meeting_id]
    )
    member: Mapped[Member | None] = relationship(foreign_keys=[member_id])
    assignee: Mapped[Member | None] = relationship(foreign_keys=[assignee_id])
    attachments: Mapped[list[Attachment]] = relationship(back_populates="item")
    votes: Mapped[list[Vote]] = relationship(back_populates="item")

    @property
    def vote_total(self) -> int:
        """Members' priority votes: the +1s minus the -1s."""
        return sum(v.value for v in self.votes)


class Vote(Base):
    """A member's priority vote on an item: +1 or -1; a new vote replaces the old."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("item_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    value: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    item: Mapped[Item] = relationship(back_populates="votes")
    member: Mapped[Member] = relationship()


class Poll(Base):
    """A question with numbered options, mailed to members, open until `closes_at`."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    winner: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # themes members proposed by reply: [{"option", "member", "approved"}] (see `polls`)
    proposals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)

    meeting: Mapped[Meeting | None] = relationship()
    votes: Mapped[list[PollVote]] = relationship(back_populates="poll")


class PollVote(Base):
    """A member's choice in a poll (1-based option number); one per member, changeable."""

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("poll_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    option: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    poll: Mapped[Poll] = relationship(back_populates="votes")


class Comment(Base):
    """A member's reply to a news post, relayed to the post's author."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id"), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    item: Mapped[Item] = relationship()
    member: Mapped[Member] = relationship()


class Attachment(Base):
    """A file a member shared; the bytes live content-addressed under the data folder."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    item: Mapped[Item] = relationship(back_populates="attachments")


class Attendance(Base):
    """A member's answer for a meeting: RSVP status or apologies."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")  # the member's own words
    proposed_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # COUNTER
    # who actually came, recorded by the coordinator apart from the calendar answer:
    # present, apologies or absent; None until recorded (see `meetings.record_presence`)
    presence: Mapped[str | None] = mapped_column(String(20), nullable=True)
    presence_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    meeting: Mapped[Meeting] = relationship(back_populates="attendance")
    member: Mapped[Member] = relationship()


class Action(Base):
    """Something the minutes say a member agreed to do: open until they report it done."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    owner_name: Mapped[str] = mapped_column(String(200))  # as the minutes name them
    text: Mapped[str] = mapped_column(Text)
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)

    meeting: Mapped[Meeting] = relationship()
    owner: Mapped[Member | None] = relationship(foreign_keys=[owner_id])


class InboundMessage(Base):
    """A raw message as received, stored before the server answers 250."""

    __tablename__ = "inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    # loaded only when used: listings, sweeps and the pipeline's steps mostly do not
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    outcome: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # times the server found it still 'new' at start-up (a message that keeps killing the
    # process is set aside after `[inbound] max_start_attempts`)
    start_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # whose flood budget it used once processed (see `ingest.rate_limit`): "member:<id>" or
    # "envelope:<address in lower case>"
    budget: Mapped[str | None] = mapped_column(String(340), nullable=True)


# the flood limit counts one sender's messages of the last minute (`ingest.rate_limit`)
Index("ix_inbound_budget", InboundMessage.budget, InboundMessage.status, InboundMessage.received_at)


class OutboxMessage(Base):
    """One outgoing mail to one recipient; delivery works only from this table."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int | None] = mapped_column(ForeignKey("mailings.id"), nullable=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    blobs: Mapped[str] = mapped_column(Text, default="")  # sha256s of shared parts in `raw`
    message_id: Mapped[str] = mapped_column(String(300))
    # the Reply-To's address, lower-cased: for our signed reply addresses, how the mail a
    # reply answers is found (`sentmail`)
    reply_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(300), default="")  # host:pid of the worker
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# a member's outbox rows are found by address (the demo's mailboxes, erasure); the mail a
# reply answers by the signed address it went out with (`sentmail`)
Index("ix_outbox_recipient", OutboxMessage.recipient)
Index("ix_outbox_reply_address", OutboxMessage.reply_address)


class Blob(Base):
    """A large attachment encoded once (base64 lines) and shared by many outbox rows."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    encoded: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


class Mailing(Base):
    """A fan-out (call for items, invites, minutes...) identified by a unique key."""

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# whether a meeting's invites have gone out is asked for every reply (`late`)
Index("ix_mailings_meeting_kind", Mailing.meeting_id, Mailing.kind)


class MailingRecipient(Base):
    """One row per (mailing, recipient): what makes a fan-out idempotent."""

    __tablename__ = "mailing_recipients"
    __table_args__ = (UniqueConstraint("mailing_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id"))
    recipient: Mapped[str] = mapped_column(String(320))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)


class Held(Base):
    """A message held for moderation, with the reason, until released or discarded."""

    __tablename__ = "held"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="held")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the coordinator's notice listed it (see `moderation`)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    inbound: Mapped[InboundMessage] = relationship()
