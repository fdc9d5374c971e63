"""Property tests over whole MIME trees: whatever shape a message takes, reading it
never raises, and the member's own words in its first text part are never lost.

The strategy builds trees the way clients do and the way broken mailers do: text and
HTML leaves in any charset the `email` package can write and any transfer encoding,
attachments with hostile names, and multipart/mixed, alternative and related nests.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import default

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.replies import parse_reply

OWN_WORDS = "Could we compare attendance codes across the trust?"
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "utf-16", "koi8-r", "iso-2022-jp"]
ENCODINGS = ["7bit", "8bit", "quoted-printable", "base64"]
text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=80)
filenames = st.one_of(
    st.sampled_from(["../../etc/passwd", "C:\\boot.ini", "CON.pdf", "a\x00b.doc", "x" * 500]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30),
)


def _text_part(subtype: str, body: str, charset: str, cte: str) -> EmailMessage:
    part = EmailMessage(policy=default)
    try:
        part.set_content(body, subtype=subtype, charset=charset, cte=cte)
    except (UnicodeError, LookupError, ValueError):  # not writable so: write it plainly
        part.set_content(body, subtype=subtype)
    return part


@st.composite
def leaves(draw: st.DrawFn) -> EmailMessage:
    """A text, HTML or attachment part."""
    kind = draw(st.sampled_from(["plain", "html", "attachment"]))
    if kind == "attachment":
        part = EmailMessage(policy=default)
        part.set_content(draw(st.binary(max_size=200)), maintype="application",
                         subtype="octet-stream", filename=draw(filenames))  # fmt: skip
        return part
    body = draw(text)
    if kind == "html":
        body = f"<p>{body}</p><script>alert(1)</script><img src=http://x.example/t.gif>"
    return _text_part(kind, body, draw(st.sampled_from(CHARSETS)), draw(st.sampled_from(ENCODINGS)))


def _multipart(subtype: str, children: list[EmailMessage]) -> EmailMessage:
    node = EmailMessage(policy=default)
    node.set_type(f"multipart/{subtype}")
    for child in children:
        node.attach(child)
    return node


trees = st.recursive(
    leaves(),
    lambda inner: st.builds(
        _multipart,
        st.sampled_from(["mixed", "alternative", "related", "signed", "x-unknown"]),
        st.lists(inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


def _message(tree: EmailMessage, first: EmailMessage | None) -> bytes:
    root = _multipart("mixed", [first, tree]) if first is not None else tree
    root["From"] = "Jane Smith <jane.smith@hamble.hants.sch.uk>"
    root["To"] = "dht+c1-2-abcdefghijklmnop@example.org"
    root["Subject"] = "Re: Call for items"
    return root.as_bytes()


@given(trees)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_mime_tree_is_read_without_raising(tree: EmailMessage) -> None:
    result = parse_reply(_message(tree, None))
    assert "error" not in result
    assert isinstance(result["body"], str) and isinstance(result["items"], list)


@given(trees, st.sampled_from(CHARSETS[:4]), st.sampled_from(ENCODINGS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_members_words_in_the_first_text_part_are_kept(
    tree: EmailMessage, charset: str, cte: str
) -> None:
    first = _text_part("plain", f"{OWN_WORDS}\n", charset, cte)
    result = parse_reply(_message(tree, first))
    assert OWN_WORDS in str(result["body"])
    titles = [item["title"] for item in result["items"]]  # type: ignore[attr-defined]
    assert OWN_WORDS in titles
