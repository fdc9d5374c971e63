"""Signed reply addresses: round trips, forgery, case folding, length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailflow.addresses import (
    PURPOSES,
    ReplyToken,
    classify_recipient,
    make_token,
    reply_address,
    verify_token,
)

SECRET = "k" * 32
GROUP = "dht@example.org"

tokens = st.builds(
    ReplyToken,
    st.sampled_from(sorted(PURPOSES)),
    st.integers(min_value=0, max_value=36**8),
    st.integers(min_value=0, max_value=36**8),
)


@given(tokens)
def test_token_round_trips_and_stays_short(token: ReplyToken) -> None:
    address = reply_address(GROUP, SECRET, token)
    assert len(address.split("@")[0]) < 64
    assert classify_recipient(address, GROUP, SECRET) == classify_recipient(
        address.upper(), GROUP, SECRET
    )
    found = classify_recipient(address, GROUP, SECRET)
    assert found is not None and found.token == token


@given(tokens, st.data())
def test_any_single_character_change_fails(token: ReplyToken, data: st.DataObject) -> None:
    text = make_token(SECRET, token)
    i = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"))
    changed = text[:i] + replacement + text[i + 1 :]
    if changed != text:
        assert verify_token(SECRET, changed) is None


def test_other_secret_does_not_verify() -> None:
    text = make_token(SECRET, ReplyToken("c", 1, 2))
    assert verify_token("another", text) is None


def test_bare_address_and_strangers() -> None:
    bare = classify_recipient("DHT@Example.org", GROUP, SECRET)
    assert bare is not None and bare.bare
    assert classify_recipient("other@example.org", GROUP, SECRET) is None
    assert classify_recipient("dht@elsewhere.org", GROUP, SECRET) is None
    assert classify_recipient("dht+c1-2-aaaaaaaaaaaaaaaa@example.org", GROUP, SECRET) is None
    assert classify_recipient("not an address", GROUP, SECRET) is None
