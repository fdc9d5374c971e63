"""mailflow.mime: charsets, filenames, attachments, automatic mail, HTML to text, robustness."""

from __future__ import annotations

import email
import time
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailflow.mime import (
    ParsedMail,
    automatic_reason,
    decode_bytes,
    html_to_text,
    out_of_office,
    parse_from,
    parse_mail,
    sanitize_filename,
    unflow,
)

FROM = "Jane Smith <jane.smith@hamblemeadows.hants.sch.uk>"


def message(body: str = "Q: How?", *, subtype: str = "plain", **headers: str) -> EmailMessage:
    """A small valid message from a member, with extra headers (underscores -> dashes)."""
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = "dht+c1a2b3c4d5e6f7@example.org"
    msg["Subject"] = "Re: Call for items"
    msg["Message-ID"] = "<m1@hamblemeadows.hants.sch.uk>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body, subtype=subtype)
    return msg


def raw_text(charset: str, body: bytes, cte: str = "8bit") -> bytes:
    head = f"From: {FROM}\nSubject: x\nMIME-Version: 1.0\n"
    head += f'Content-Type: text/plain; charset="{charset}"\nContent-Transfer-Encoding: {cte}\n\n'
    return head.encode() + body


class TestCharsets:
    def test_declared_charset_is_used(self) -> None:
        assert parse_mail(raw_text("iso-8859-1", "élève".encode("latin-1"))).text == "élève"

    def test_latin1_label_reads_windows_1252_quotes(self) -> None:
        # Outlook says iso-8859-1 but sends 0x92 for a curly apostrophe
        assert parse_mail(raw_text("iso-8859-1", b"We\x92re")).text == "We’re"

    def test_utf8_declared_as_latin1_is_read_as_utf8(self) -> None:
        assert parse_mail(raw_text("iso-8859-1", "Café".encode())).text == "Café"

    def test_unknown_charset_falls_back(self) -> None:
        assert parse_mail(raw_text("x-unknown", "naïve".encode())).text == "naïve"
        assert parse_mail(raw_text("x-unknown", b"na\xefve")).text == "naïve"

    def test_non_text_codec_name_is_not_used(self) -> None:
        assert parse_mail(raw_text("base64", b"aGVsbG8=")).text == "aGVsbG8="

    def test_iso_2022_jp(self) -> None:
        body = "他校では？".encode("iso-2022-jp")
        assert parse_mail(raw_text("ISO-2022-JP", body, "7bit")).text == "他校では？"

    def test_encoded_words_in_subject_and_from(self) -> None:
        raw = (
            b"From: =?utf-8?q?Se=C3=A1n_Murphy?= <sean@x.org>\n"
            b"Subject: =?iso-8859-1?q?R=E9p=2E_:_?= =?utf-8?b?Q2Fmw6k=?= au lait\n\nhi\n"
        )
        mail = parse_mail(raw)
        assert mail.from_name == "Seán Murphy"
        assert mail.subject == "Rép. : Café au lait"

    def test_subject_loses_line_breaks_and_extra_space(self) -> None:
        mail = parse_mail(b"From: a@b.org\nSubject: Re:  Call\n\tfor   items\n\nhi\n")
        assert mail.subject == "Re: Call for items"

    def test_decode_bytes_never_fails(self) -> None:
        assert decode_bytes(b"\xff\xfe\x81", "utf-8") == "ÿþ\x81"
        assert decode_bytes(b"abc", None) == "abc"

    def test_a_utf16_label_is_believed_only_for_wide_text(self) -> None:
        text = "Caf\u00e9 budget"
        assert decode_bytes(text.encode("utf-16"), "utf-16") == text  # with a BOM
        assert decode_bytes(text.encode("utf-16-le"), "UTF-16LE") == text  # NULs, no BOM
        assert decode_bytes(b"Cafe budget!", "utf-16") == "Cafe budget!"  # ASCII, a lie
        damaged = "Budget\nplease".encode("utf-16").replace(b"\n", b"\r\n")  # odd length
        assert decode_bytes(damaged, "utf-16").startswith("Budget")


class TestFrom:
    @pytest.mark.parametrize(
        ("value", "address"),
        [
            ('"evil@x.com" <real@y.org>', "real@y.org"),
            ("evil@x.com <real@y.org>", "real@y.org"),
            ("Jane <JANE@Hamble.HANTS.sch.uk>", "JANE@hamble.hants.sch.uk"),
            ("jane@x.org (Jane Smith)", "jane@x.org"),
            ("Smith, Jane <j@x.org>", "j@x.org"),
            ("a@b.org, c@d.org", ""),
            ("<a@b.org> <c@d.org>", ""),
            ("garbage", ""),
            ("<>", ""),
            ("", ""),
        ],
    )
    def test_address_is_the_angle_addr(self, value: str, address: str) -> None:
        assert parse_from(value)[0] == address

    def test_parse_mail_uses_strict_from(self) -> None:
        mail = parse_mail(b'From: "boss@school.org" <attacker@evil.example>\n\nhi\n')
        assert mail.from_address == "attacker@evil.example"
        assert mail.from_name == "boss@school.org"


class TestFilenames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("../../etc/passwd", "passwd"),
            ("C:\\evil.exe", "evil.exe"),
            ("a\x00b.pdf", "ab.pdf"),
            ("CON.txt", "_CON.txt"),
            ("nul", "_nul"),
            ("com1.docx", "_com1.docx"),
            ("..", "attachment.pdf"),
            ("", "attachment.pdf"),
            ("   ", "attachment.pdf"),
            ("report..final.pdf", "report.final.pdf"),
            (".hidden.pdf", "hidden.pdf"),
            ("gnp\u202e.exe", "gnp.exe"),
            ('what?<>|"*:.pdf', "what_______.pdf"),
            ("Policy 2026 (final).pdf", "Policy 2026 (final).pdf"),
        ],
    )
    def test_sanitised(self, name: str, expected: str) -> None:
        assert sanitize_filename(name, "application/pdf") == expected

    def test_long_name_keeps_extension(self) -> None:
        name = sanitize_filename("x" * 500 + ".docx")
        assert len(name) == 200 and name.endswith(".docx")

    def test_long_multibyte_name_fits_255_bytes(self) -> None:
        name = sanitize_filename("報告" * 150 + ".pdf")
        assert len(name.encode()) <= 255 and name.endswith(".pdf")

    def test_empty_name_gets_extension_for_type(self) -> None:
        assert sanitize_filename("", "image/jpeg") == "attachment.jpg"
        assert sanitize_filename("", "application/x-whatever") == "attachment.bin"

    @given(st.text())
    @settings(max_examples=200, deadline=None)
    def test_always_safe(self, name: str) -> None:
        out = sanitize_filename(name)
        assert out and "/" not in out and "\\" not in out and ".." not in out
        assert len(out) <= 200 and not any(ord(ch) < 32 for ch in out)
        assert out.split(".")[0].lower() not in {"con", "nul", "prn", "aux"}


class TestAttachments:
    def test_attachment_and_inline_logo(self) -> None:
        msg = message("See attached")
        msg.add_related(
            b"\x89PNG...",
            maintype="image",
            subtype="png",
            cid="<image001.png@01D>",
            filename="image001.png",
            disposition="inline",
        )
        msg.add_attachment(
            b"%PDF-1.4", maintype="application", subtype="pdf", filename="../../Policy.pdf"
        )
        mail = parse_mail(msg.as_bytes())
        files = {a.filename: a for a in mail.attachments}
        assert files["image001.png"].inline
        assert not files["Policy.pdf"].inline
        assert files["Policy.pdf"].content_type == "application/pdf"
        assert files["Policy.pdf"].size == 8
        assert len(files["Policy.pdf"].sha256) == 64

    def test_image_attached_as_file_is_a_resource(self) -> None:
        msg = message("Photo of our display")
        msg.add_attachment(b"\xff\xd8\xff", maintype="image", subtype="jpeg", filename="wall.jpg")
        next(msg.iter_attachments())["Content-ID"] = "<f_abc>"  # Gmail gives files a Content-ID
        (att,) = parse_mail(msg.as_bytes()).attachments
        assert not att.inline

    def test_calendar_parts_are_calendars_not_attachments(self) -> None:
        msg = message("Accepted")
        msg.add_alternative(
            "\ufeffBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n",
            subtype="calendar",
            params={"method": "REPLY"},
        )
        msg.add_attachment(
            b"BEGIN:VCALENDAR\r\nmethod:reply\r\nEND:VCALENDAR\r\n",
            maintype="application",
            subtype="ics",
            filename="invite.ics",
        )
        mail = parse_mail(msg.as_bytes())
        assert mail.attachments == ()
        assert len(mail.calendars) == 2
        assert mail.calendars[0].startswith("BEGIN:VCALENDAR")

    def test_an_attached_calendar_of_another_event_is_a_resource(self) -> None:
        msg = message("Here is the moderation day for your calendars.")
        ics = b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nEND:VCALENDAR\r\n"
        msg.add_attachment(ics, maintype="text", subtype="calendar", filename="Moderation day.ics")
        mail = parse_mail(msg.as_bytes())
        assert mail.calendars == ()
        assert [(a.filename, a.content_type) for a in mail.attachments] == [
            ("Moderation day.ics", "text/calendar")
        ]

    def test_a_message_forwarded_as_an_attachment_is_kept_whole(self) -> None:
        forwarded = message("The new EHCP paperwork starts in January.")
        forwarded.replace_header("Subject", "EHCP reviews")
        msg = message("Sharing this from the LA.")
        msg.add_attachment(forwarded, filename="EHCP reviews.eml")
        mail = parse_mail(msg.as_bytes())
        (att,) = mail.attachments
        assert (att.filename, att.content_type) == ("EHCP reviews.eml", "message/rfc822")
        assert b"Subject: EHCP reviews" in att.data
        assert mail.text.strip() == "Sharing this from the LA."

    def test_a_plain_part_of_only_image_placeholders_gives_way_to_html(self) -> None:
        msg = message("[cid:image001.png@01DA]\n")
        msg.add_alternative("<p>Q: Who runs the SEND hub?</p>", subtype="html")
        assert parse_mail(msg.as_bytes()).text.strip() == "Q: Who runs the SEND hub?"

    def test_winmail_dat_is_not_a_resource(self) -> None:
        msg = message("Q: How?")
        msg.add_attachment(b"\x78\x9f\x3e\x22", maintype="application", subtype="ms-tnef",
                           filename="winmail.dat")  # fmt: skip
        msg.add_attachment(b"\x78\x9f\x3e\x22", maintype="application",
                           subtype="octet-stream", filename="WINMAIL.DAT")  # fmt: skip
        assert parse_mail(msg.as_bytes()).attachments == ()

    def test_vcard_is_not_a_resource(self) -> None:
        msg = message("Q: How?")
        msg.add_attachment(b"BEGIN:VCARD\r\nEND:VCARD\r\n", maintype="text", subtype="vcard",
                           filename="owen_hughes.vcf")  # fmt: skip
        msg.add_attachment(b"BEGIN:VCARD", maintype="text", subtype="x-vcard", filename="me.vcf")
        assert parse_mail(msg.as_bytes()).attachments == ()

    @pytest.mark.parametrize(
        ("filename", "size", "inline"),
        [
            ("IMG_4821.jpeg", 180_000, False),  # Apple Mail sends attached photos inline
            ("Sensory room.png", 150_000, False),
            ("IMG_4821.jpeg", 20_000, True),  # small: could be anything, keep as before
            ("image001.png", 250_000, True),  # Outlook's name for embedded images
            ("image.png", 250_000, True),
            ("Outlook-k2j4h5.png", 250_000, True),
            ("school-logo.png", 250_000, True),
            ("Twitter.png", 250_000, True),
        ],
    )
    def test_large_named_inline_image_is_a_photo(
        self, filename: str, size: int, inline: bool
    ) -> None:
        msg = message("Photos of our sensory room")
        msg.add_related(b"\xff\xd8\xff" + b"x" * size, maintype="image", subtype="jpeg",
                        cid="<p1@home>", filename=filename, disposition="inline")  # fmt: skip
        (att,) = parse_mail(msg.as_bytes()).attachments
        assert att.inline is inline

    def test_signature_and_key_parts_are_dropped(self) -> None:
        msg = message("Signed")
        msg.add_attachment(
            b"sig", maintype="application", subtype="pkcs7-signature", filename="smime.p7s"
        )
        msg.add_attachment(
            b"key", maintype="application", subtype="pgp-keys", filename="publickey.asc"
        )
        assert parse_mail(msg.as_bytes()).attachments == ()


class TestBody:
    def test_plain_preferred_over_html(self) -> None:
        msg = message("plain words")
        msg.add_alternative("<p>html words</p>", subtype="html")
        assert parse_mail(msg.as_bytes()).text == "plain words"

    def test_blank_plain_falls_back_to_html(self) -> None:
        msg = message(" \n")
        msg.add_alternative("<p>html words</p>", subtype="html")
        assert parse_mail(msg.as_bytes()).text == "html words"

    def test_html_only(self) -> None:
        mail = parse_mail(
            message("<div>Q: Why?</div><script>x()</script>", subtype="html").as_bytes()
        )
        assert mail.text == "Q: Why?"

    def test_format_flowed_is_joined(self) -> None:
        raw = (
            b"From: a@b.org\nContent-Type: text/plain; charset=utf-8; format=flowed\n\n"
            b"Q: a long question that \nwraps here?\n> quoted soft \n> line\n-- \nSig\n"
        )
        assert (
            parse_mail(raw).text
            == "Q: a long question that wraps here?\n> quoted soft line\n-- \nSig"
        )

    def test_unflow_delsp(self) -> None:
        assert unflow("split wo \nrd", delsp=True) == "split word"
        assert unflow(" >not a quote") == ">not a quote"  # space-stuffed

    def test_fields(self) -> None:
        msg = message("hi", In_Reply_To="<call@example.org>")
        mail = parse_mail(msg.as_bytes())
        assert isinstance(mail, ParsedMail)
        assert mail.message_id == "<m1@hamblemeadows.hants.sch.uk>"
        assert mail.in_reply_to == "<call@example.org>"
        assert mail.from_address == "jane.smith@hamblemeadows.hants.sch.uk"
        assert mail.headers["subject"] == "Re: Call for items"


class TestAutomatic:
    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            ({"Auto-Submitted": "auto-replied"}, "auto-submitted: auto-replied"),
            (
                {"Auto-Submitted": "auto-generated; owner-email=x@y"},
                "auto-submitted: auto-generated",
            ),
            ({"X-Autoreply": "yes"}, "x-autoreply: yes"),
            ({"X-Autorespond": "Vacation"}, "x-autorespond: vacation"),
            ({"Precedence": "bulk"}, "precedence: bulk"),
            ({"Precedence": "junk"}, "precedence: junk"),
            ({"Precedence": "list"}, "precedence: list"),
            ({"List-Id": "<deputies.lists.example.org>"}, "list: list-id"),
            ({"List-Unsubscribe": "<mailto:u@x.org>"}, "list: list-unsubscribe"),
            ({"Return-Path": "<>"}, "bounce: empty return-path"),
            ({"Subject": "Automatic reply: Call for items"}, "subject: automatic reply"),
            ({"Subject": "Out of Office: Call for items"}, "subject: out of office"),
            ({"Subject": "Abwesenheitsnotiz: Call"}, "subject: automatic reply"),
            ({"Subject": "Réponse automatique : Call"}, "subject: automatic reply"),
            ({"Subject": "Respuesta automática: Call"}, "subject: automatic reply"),
            ({"Subject": "Undeliverable: Call for items"}, "subject: undeliverable"),
            ({"Subject": "Delivery Status Notification (Failure)"}, "subject: undeliverable"),
            ({"Subject": "Mail System Error - Returned Mail"}, "subject: undeliverable"),
            ({"Subject": "AUTO: Jane Smith is out of the office"}, "subject: automatic reply"),
            ({"Subject": "Recall: Call for items"}, "subject: message recall"),
            ({"Subject": "Read: Call for items"}, "subject: read receipt"),
            ({"Subject": "Odpowiedź automatyczna: Call"}, "subject: automatic reply"),
            ({"Subject": "Resposta Automática: Call"}, "subject: automatic reply"),
            ({"Subject": "Automatiskt svar: Call"}, "subject: automatic reply"),
        ],
    )
    def test_signals(self, headers: dict[str, str], reason: str) -> None:
        msg = message()
        for name, value in headers.items():
            del msg[name]
            msg[name] = value
        assert automatic_reason(msg, None) == reason

    @pytest.mark.parametrize(
        "sender",
        ["MAILER-DAEMON@mx.example.net", "postmaster@x.org", "noreply@x.org", "no-reply@x.org"],
    )
    def test_daemon_senders(self, sender: str) -> None:
        msg = message()
        del msg["From"]
        msg["From"] = sender
        assert automatic_reason(msg, None) == f"from: {sender.split('@')[0].lower()}"

    def test_empty_envelope_sender_is_a_bounce(self) -> None:
        assert automatic_reason(message(), "") == "bounce: empty envelope sender"
        assert parse_mail(message().as_bytes(), envelope_from="").automatic is not None
        assert automatic_reason(message(), "jane@x.org") is None

    def test_human_mail_is_not_automatic(self) -> None:
        assert automatic_reason(message(), None) is None
        assert automatic_reason(message(Auto_Submitted="no"), None) is None

    def test_auto_response_suppress_alone_is_not_automatic(self) -> None:
        assert automatic_reason(message(X_Auto_Response_Suppress="All"), None) is None

    def test_reports(self) -> None:
        dsn = (
            b"From: MAILER-DAEMON@x.org\nContent-Type: multipart/report; "
            b"report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
            b"failed\n--b\nContent-Type: message/delivery-status\n\nAction: failed\n--b--\n"
        )
        assert parse_mail(dsn).automatic == "bounce: multipart/report"
        mdn = dsn.replace(b"delivery-status;", b"disposition-notification;")
        assert parse_mail(mdn).automatic == "read receipt: multipart/report"

    def test_human_subject_about_office_is_not_automatic(self) -> None:
        assert automatic_reason(message(), None) is None
        msg = message()
        del msg["Subject"]
        msg["Subject"] = "Re: Call for items - office staffing question"
        assert automatic_reason(msg, None) is None
        for subject in ("Auto-enrolment pensions", "Re: Readiness for Ofsted", "Automatic doors"):
            msg.replace_header("Subject", subject)
            assert automatic_reason(msg, None) is None


class TestOutOfOffice:
    @pytest.mark.parametrize(
        "text",
        [
            "Thank you for your email. I am out of the office until Monday 9 November with no "
            "access to email.",
            "I'm on annual leave until the 23rd. For urgent matters please contact the office.",
            "Bonjour,\n\nJe suis absente jusqu'au 9 novembre. Pour toute urgence, merci de "
            "contacter le secrétariat.",
            "Ich bin bis 9. November nicht im Büro. In dringenden Fällen wenden Sie sich an ...",
            "Rydw i allan o'r swyddfa tan ddydd Llun. Mewn achos brys, cysylltwch â'r ysgol.",
            "Jestem poza biurem do 9 listopada. W pilnych sprawach proszę dzwonić do szkoły.",
        ],
    )
    def test_notices(self, text: str) -> None:
        assert out_of_office(text) == "body: out of office"

    @pytest.mark.parametrize(
        "text",
        [
            "Apologies - I am on annual leave that week, so no access to email either.",
            "I'm on maternity leave from December. I will reply on my return. Who covers?",
            "I am out of the office on the 19th and will have no access to email, so will miss "
            "the meeting.",
            "Item: Cover while I am on leave\nFor urgent matters we use the office.",
            "I am out of the office next week.",  # no "urgent / no access / on my return"
            "Could we discuss cover for staff on maternity leave?",
        ],
    )
    def test_members_words_are_not_notices(self, text: str) -> None:
        assert out_of_office(text) is None

    def test_parse_mail_marks_a_notice_automatic(self) -> None:
        body = "I am out of the office until Monday. For urgent matters contact the office."
        assert parse_mail(message(body).as_bytes()).automatic == "body: out of office"
        headers = message(body, Auto_Submitted="auto-replied")
        assert parse_mail(headers.as_bytes()).automatic == "auto-submitted: auto-replied"

    def test_only_the_members_text_counts_not_the_quote(self) -> None:
        body = "Q: How?\n\n> I am out of the office. For urgent matters contact the office."
        assert parse_mail(message(body).as_bytes()).automatic is None


class TestHtmlToText:
    def test_script_style_head_removed_entities_decoded(self) -> None:
        html = (
            "<html><head><title>T</title><style>p{}</style></head><body>"
            "<p>Fish &amp; chips &lt;3&nbsp;x</p><script>alert('x')</script></body></html>"
        )
        assert html_to_text(html) == "Fish & chips <3 x"

    def test_paragraphs_breaks_and_lists(self) -> None:
        html = "<p>One</p><p>Two<br>Three</p><ul><li>a</li><li>b</li></ul><ol><li>c</li></ol>"
        assert html_to_text(html) == "One\n\nTwo\nThree\n\n- a\n- b\n1. c"

    def test_a_block_inside_a_list_item_stays_on_the_bullet_line(self) -> None:
        html = "<ul><li><div>Maths twilight</div></li><li><p>Phonics</p></li></ul>"
        assert html_to_text(html) == "- Maths twilight\n- Phonics"

    def test_gmail_divs(self) -> None:
        html = '<div dir="ltr"><div>Hi</div><div><br></div><div>Text</div></div>'
        assert html_to_text(html) == "Hi\n\nText"

    def test_msonormal_paragraphs_are_lines(self) -> None:
        html = (
            "<p class=MsoNormal>A<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
            "<p class=MsoNormal>B<o:p></o:p></p>"
        )
        assert html_to_text(html) == "A\n\nB"

    def test_blockquote_becomes_quoted_lines(self) -> None:
        html = (
            "<div>Mine</div><blockquote>Theirs<br>more<blockquote>deeper</blockquote></blockquote>"
        )
        assert html_to_text(html) == "Mine\n> Theirs\n> more\n> > deeper"

    def test_outlook_reply_header_gets_a_separator(self) -> None:
        html = (
            '<p>Mine</p><div style="border:none;border-top:solid #E1E1E1 1.0pt">'
            "<p class=MsoNormal><b>From:</b> X</p></div>"
        )
        assert html_to_text(html) == "Mine\n\n" + "_" * 32 + "\nFrom: X"
        owa = '<div>Mine</div><div id="divRplyFwdMsg"><b>From:</b> X</div>'
        assert html_to_text(owa) == "Mine\n" + "_" * 32 + "\nFrom: X"

    def test_hidden_elements_dropped(self) -> None:
        assert html_to_text('<span style="display: none">preheader</span>Body') == "Body"

    def test_broken_html_does_not_raise(self) -> None:
        text = html_to_text("<div><p>unclosed <b>bold</i></div></blockquote>x")
        assert text == "unclosed bold\n\nx"


class TestRobustness:
    def test_deep_nesting(self) -> None:
        raw = b"MIME-Version: 1.0\nFrom: a@b.org\n"
        for i in range(1000):
            raw += b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
        raw += b"Content-Type: text/plain\n\nhello\n"
        mail = parse_mail(raw)
        assert mail.from_address == "a@b.org"
        assert "hello" in mail.text

    def test_huge_headers_are_fast(self) -> None:
        raw = b"From: a@b.org\nSubject: " + b"=?utf-8?q?a?= (" * 100_000 + b"\n\nbody\n"
        start = time.monotonic()
        mail = parse_mail(raw)
        assert time.monotonic() - start < 5
        assert mail.text == "body"

    def test_deeply_nested_html_is_fast(self) -> None:
        start = time.monotonic()
        text = html_to_text("<div>" * 50_000 + "<blockquote>" * 5_000 + "deep")
        assert time.monotonic() - start < 5
        assert text.endswith("deep")

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"\x00" * 100,
            b"\n\n\n",
            b"Content-Type: multipart/mixed\n\n",
            b"From: <<<>>>\n\n",
            b"Content-Type: text/plain; charset=\x00\n\nx",
            b"Content-Transfer-Encoding: base64\n\n!!!",
        ],
    )
    def test_odd_inputs(self, raw: bytes) -> None:
        assert isinstance(parse_mail(raw), ParsedMail)

    @given(st.binary(max_size=2000))
    @settings(max_examples=200, deadline=None)
    def test_never_raises_on_bytes(self, raw: bytes) -> None:
        parse_mail(raw)

    @given(st.text(max_size=500), st.sampled_from(["plain", "html"]))
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def test_never_raises_on_text_in_valid_message(self, body: str, subtype: str) -> None:
        msg = message(subtype=subtype)
        msg.set_content(body, subtype=subtype, cte="base64")
        mail = parse_mail(msg.as_bytes())
        if subtype == "plain":
            expected = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
            assert mail.text == expected.lstrip("\ufeff") or mail.text.strip() == expected.strip()

    def test_parsed_by_stdlib_as_well(self) -> None:
        # our fixtures are valid for the stdlib parser too
        msg = email.message_from_bytes(message().as_bytes(), policy=policy.default)
        assert msg["From"] == FROM
