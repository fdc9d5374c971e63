"""mailflow: run a small group's meetings through email.

Members reply to mail; mailflow turns replies into agenda items, plans time-boxed
agendas, sends calendar invites and mails the minutes to everyone.
"""

__version__ = "0.1.0"
