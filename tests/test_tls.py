"""STARTTLS on the inbound server, and STARTTLS + AUTH towards the outbound relay."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from mailflow import compose, outbox
from mailflow.app import App
from mailflow.models import OutboxMessage
from mailflow.server import InboundServer
from tests.conftest import ConfigFactory, SinkHandler, free_port


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_cert(ca: trustme.CA, folder: Path) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


def test_inbound_requires_starttls_when_configured(configs: ConfigFactory, ca: trustme.CA) -> None:
    cert_file, key_file = write_cert(ca, configs.folder)
    path = configs.write()
    text = path.read_text().replace(
        "[inbound]\n",
        f'[inbound]\ntls_cert = "{cert_file}"\ntls_key = "{key_file}"\nrequire_starttls = true\n',
    )
    path.write_text(text)
    app = App.open(path)
    srv = InboundServer(app, port=free_port())
    srv.start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            smtp.ehlo()
            assert smtp.mail("jane@school.org")[0] == 530
        client = ssl.create_default_context()
        ca.configure_trust(client)
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            smtp.starttls(context=client)
            smtp.sendmail("jane@school.org", ["dht@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
        assert srv.drain()
    finally:
        srv.stop()
        app.close()


class Authenticator:
    """Accepts exactly one user and password."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:  # fmt: skip
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"mailflow"
            and auth_data.password == b"s3cret"
        )
        if ok:
            self.logins.append("mailflow")
        return AuthResult(success=ok)


def test_outbound_starttls_and_auth(
    configs: ConfigFactory, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = configs.folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.setenv("RELAY_PASSWORD", "s3cret")
    handler, auth = SinkHandler(), Authenticator()
    relay = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                       require_starttls=True, authenticator=auth, auth_required=True)  # fmt: skip
    relay.start()
    try:
        path = configs.write(transport="smtp", smtp_port=relay.port)
        text = path.read_text().replace(
            "[outbound]\n",
            '[outbound]\nstarttls = true\nusername = "mailflow"\npassword_env = "RELAY_PASSWORD"\n',
        )
        path.write_text(text)
        app = App.open(path)
        msg = compose.build_message(app.settings, to="jane@school.org", subject="Hi",
                                    text="hi\n", html="<p>hi</p>", now=app.now())  # fmt: skip
        with app.session() as session:
            outbox.enqueue(session, msg, now=app.now())
            report = outbox.deliver(session, app.settings, now=app.now())
            row = session.scalars(select(OutboxMessage)).one()
        app.close()
    finally:
        relay.stop()
    assert report.sent == 1, row.last_error
    assert auth.logins == ["mailflow"]
    assert [e.rcpt_tos for e in handler.received] == [["jane@school.org"]]
