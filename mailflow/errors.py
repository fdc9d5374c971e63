"""The small error hierarchy every layer raises and the CLI turns into one line."""


class MailflowError(Exception):
    """Base class of every error mailflow raises on purpose."""


class ConfigError(MailflowError):
    """The configuration file is missing, malformed or has a bad value."""


class UserError(MailflowError):
    """Bad input from the person at the command line (unknown id, bad date, ...)."""


class Reject(MailflowError):
    """An inbound message or recipient we refuse with an SMTP code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class Hold(MailflowError):
    """An inbound message we keep for the coordinator to release or discard."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Discard(MailflowError):
    """An inbound message we keep but do not act on (automatic mail), with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
