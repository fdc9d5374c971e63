"""Whether a member's words ask to leave the group: "unsubscribe", "please remove me".

Pure. A reply asks to leave only when its *whole* text does: every clause (split at
``. ! ? ; , :``, spaced dashes and line ends) is a way of asking to leave, a courtesy (a
greeting, a thank-you, a sign-off) or the reason for leaving. "Unsubscribe" inside a
longer message, or next to a question or an item, is not a request to leave: the
member's other words count.

The phrases are data (`LEAVE`, `COURTESY`, `REASON`), one tuple per language the reply parser
reads: English, Welsh, French, German and Spanish. Each is a regular expression for
one whole clause, written without nested quantifiers (runs are bounded character
classes), and only texts up to `MAX_CHARS` are looked at, so no text can make the
check slow.
"""

from __future__ import annotations

import re

# A request to leave is a sentence or two; anything longer is about something else.
MAX_CHARS = 400
_LISTNAME = r"(?:list|group|emails?|e-mails?|mailings?|circulation|distribution)"
_FROM_LIST = rf"(?:\s(?:from|off|of)\s[^,;]{{0,40}}{_LISTNAME})?"  # "... from this list"
_ASK = r"(?:(?:could|can|would)\syou\s)?(?:please\s)?(?:kindly\s)?"
_POLITE = r"(?:\splease|\sthanks|\sthank\syou)?"
# "I have left [the school | Bursledon | Bursledon Junior School]": one name or a place
# word, never a longer phrase ("I have left a comment in the document" is no request)
_PLACE = (
    r"(?:\s(?:the\s|my\s)?(?:[^\s,;]{1,40}(?:\s(?:school|academy|college|primary|infants|"
    r"juniors|junior\sschool|trust|federation))?|teaching|the\sprofession))?"
)
_ANY = r"(?:\s[^,;]{1,60})?"  # the rest of a clause that can only be about leaving
# "I have left ..." in other languages counts only with a school or the list after it
# ("he dejado un comentario" is no request to leave)
_LEFT_CY = r"(?:\s(?:yr?\s)?(?:ysgol|grŵp|grwp|rhestr|swydd)[^,;]{0,40})?"
_LEFT_FR = (
    r"(?:\s(?:l'|le\s|la\s|mon\s|ma\s)?"
    r"(?:école|établissement|collège|lycée|groupe|liste|poste)[^,;]{0,40})?"
)
_LEFT_ES = (
    r"(?:\s(?:el|la|mi)\s(?:colegio|escuela|centro|instituto|grupo|lista|puesto)[^,;]{0,40})?"
)

LEAVE: dict[str, tuple[str, ...]] = {
    "en": (
        rf"{_ASK}unsubscribe(?:\sme)?{_FROM_LIST}{_POLITE}",
        rf"{_ASK}(?:remove|delete|drop)\sme{_FROM_LIST}{_POLITE}",
        rf"{_ASK}take\sme\soff(?:\s[^,;]{{0,40}}{_LISTNAME})?{_POLITE}",
        rf"{_ASK}stop\s(?:sending\sme|emailing\sme|mailing\sme)(?:\s(?:emails?|mail|these))?",
        rf"i(?:'d|\swould|\swish|\swant)(?:\slike)?\sto\s(?:leave|unsubscribe|be\sremoved|"
        rf"be\staken\soff)(?:\s(?:the|this|your)\s{_LISTNAME}|{_FROM_LIST}){_POLITE}",
        rf"i(?:\shave|'ve)(?:\snow|\sjust)?\s(?:left|retired|moved\son){_PLACE}",
        r"i\s(?:no\slonger|don't|do\snot)\s(?:work|teach)\s(?:at|for|in)\s[^,;]{1,60}",
    ),
    "cy": (
        rf"(?:dad-?danysgrifio|datdanysgrifio)(?:\sfi)?{_ANY}",
        r"tynnwch\sfi(?:\s(?:oddi\sar|o'r|o)\s[^,;]{0,40})?",
        rf"(?:rwyf|rydw\si|dw\si|dwi|rwy)(?:\swedi|'di)\sgadael{_LEFT_CY}",
    ),
    "fr": (
        r"(?:merci\sde\s|veuillez\s)?(?:me\s(?:désabonner|désinscrire|retirer)|désabonner|"
        r"désinscrire)(?:\s(?:de|du|des)\s[^,;]{0,40})?",
        rf"(?:désabonnez|désinscrivez|retirez|supprimez)-moi{_ANY}",
        rf"(?:je\sveux|je\svoudrais|je\souhaite)\s(?:me\sdésabonner|me\sdésinscrire){_ANY}",
        rf"j'ai\squitté{_LEFT_FR}",
        r"désabonnement",
    ),
    "de": (
        r"(?:bitte\s)?(?:abmelden|austragen|abbestellen)",
        r"(?:bitte\s)?(?:entfernen|streichen|nehmen)\s(?:sie|du)\smich(?:\s(?:aus|von)\s"
        r"[^,;]{0,40})?",
        r"ich\s(?:möchte|will|würde)\smich(?:\s[^,;]{0,40})?\s(?:abmelden|austragen)(?:\slassen)?",
        r"(?:bitte\s)?(?:tragen|melden)\s(?:sie|du)\smich(?:\s[^,;]{0,40})?\s(?:aus|ab)",
        r"ich\shabe\s[^,;]{1,40}\sverlassen",
    ),
    "es": (
        rf"(?:darme|dadme|denme|deme)\sde\sbaja{_ANY}",
        rf"(?:quiero|quisiera|deseo)\s(?:darme\sde\sbaja|salir\sde\sla\slista){_ANY}",
        rf"(?:elimínenme|eliminadme|sáquenme|sacadme|bórrenme|borradme){_ANY}",
        rf"(?:he\sdejado|dejé){_LEFT_ES}",
        r"cancelar\s(?:la\s)?suscripción|baja",
    ),
}

# Why the member is leaving, next to a request to leave ("I've moved to a role at the
# trust and Tom will be taking over", "I'm retiring at Christmas"): allowed like a
# courtesy, unless the clause goes on to ask for something ("... and would like to raise").
_NO_ASKING = r"(?![^,;]{0,120}\b(?:raise|discuss|agenda|question|could|would|can\swe)\b)"
REASON: dict[str, tuple[str, ...]] = {
    "en": (
        rf"{_NO_ASKING}i(?:'ve|\shave|'m|\sam|'ll\sbe|\swill\sbe)(?:\snow|\sjust|\sbeen)?\s"
        r"(?:moved|moving|retired|retiring|leaving|stepping\sdown|changed|changing|taken|"
        r"taking|started|starting|got)\b[^,;]{0,100}",
    ),
}

COURTESY: dict[str, tuple[str, ...]] = {
    "en": (
        r"(?:hi|hello|hey|dear|good\s(?:morning|afternoon|evening))(?:\s[^,;]{1,30})?",
        r"(?:many\s)?(?:thanks|thank\syou|regards|cheers|best\swishes|best)(?:\s[^,;]{1,50})?",
        r"(?:kind|warm|best)\sregards|please|sorry|apologies",
    ),
    "cy": (r"helo|shwmae|annwyl(?:\s[^,;]{1,30})?|diolch(?:\syn\sfawr)?|cofion(?:\sgorau)?|hwyl",),
    "fr": (r"bonjour|bonsoir|salut|merci(?:\sbeaucoup)?|cordialement|bien\sà\svous",),
    "de": (
        r"(?:hallo|guten\stag|liebe|lieber|danke(?:\sschön)?|vielen\sdank|mit\sfreundlichen\s"
        r"grüßen|viele\sgrüße|beste\sgrüße|grüße)(?:\s[^,;]{1,30})?",
    ),
    "es": (
        r"hola|buenos\sdías|buenas\stardes|por\sfavor|gracias|muchas\sgracias|saludos|un\ssaludo",
    ),
}


def _one(patterns: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    alternatives = "|".join(p for group in patterns.values() for p in group)
    return re.compile(f"(?:{alternatives})", re.IGNORECASE)


_LEAVE = _one(LEAVE)
_COURTESY = _one(COURTESY)
_REASON = _one(REASON)
_CLAUSE_END = re.compile(r"[.!?;,:\n]|\s[–—-]\s")


def asks_to_leave(text: str, *, names: tuple[str, ...] = ()) -> bool:
    """Whether the whole of `text` asks to leave (see the module docstring).

    `names` are the sender's names: a clause that is just one of them is a sign-off.
    """
    if len(text) > MAX_CHARS:
        return False
    own_names = {n.strip().lower() for n in names if n.strip()}
    asked = False
    for raw in _CLAUSE_END.split(text.replace("’", "'")):
        clause = " ".join(raw.split())
        if not clause or clause.lower() in own_names:
            continue
        if _LEAVE.fullmatch(clause):
            asked = True
        elif not (_COURTESY.fullmatch(clause) or _REASON.fullmatch(clause)):
            return False
    return asked
