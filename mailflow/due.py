"""What the reply loops have due at a `tick`: polls to close, drafts, vote mails, warnings,
the coordinator's notice of held mail.

Run before the invites of the same tick, so a poll that closes now puts its theme in
the invites rather than in an update right after them. Every action is keyed or
guarded by state, so overlapping ticks do each thing once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailflow import coordinator, digest, moderation, polls, rsvp, votes
from mailflow.config import Settings
from mailflow.models import Meeting


def run(
    session: Session, settings: Settings, now: datetime, upcoming: Sequence[Meeting]
) -> list[str]:
    """Close due polls; for each upcoming meeting mail the proposed items for votes, the
    coordinator's agenda draft and any quorum warning; send the weekly digest and the
    hourly notice of held mail."""
    done = polls.close_due(session, settings, now)
    for meeting in upcoming:
        done += votes.due_proposed(session, settings, meeting, now)
        done += coordinator.due_draft(session, settings, meeting, now)
        done += rsvp.quorum_warning(session, settings, meeting, now)
    done += digest.due_digest(session, settings, now)
    done += moderation.due_notice(session, settings, now)
    session.commit()
    return done
