"""A member's words -> items: what a reply asks us to record.

Pure functions over text (plus `parse_reply` and `read_reply`, which read a parsed
message). Our own mail is taken out of the reply first (`original`: the exact mail
answered when the caller has it, else our templates' wording); the member's own words
come from `cleaning`; the marker and command lines are defined in `syntax` and
`commands`; sentences and what each does are read by `sentences`; this module turns the
words into questions, agenda items, apologies, resources and commands.

Rule decisions (the reply syntax itself is in DESIGN.md):

* A reply that only quotes our mail (nothing of the member's own) has no items; its
  `body` is still the whole text so nothing is lost. A forward with no text of the
  member's own uses the forwarded message's body as the member's text.
* Greetings, "hope you are well" lines and lead-ins ending in ``:`` are never titles.
  A reply that is only a pleasantry ("Thanks, see you Thursday!"), an attendance note
  ("I'll be there") or a "nothing from me this time" has no items.
* Markers: ``Q:``/``Question:``/``Item:``/``Agenda:``/``Agenda item:``, numbered
  (``Q1:``) or after a bullet; ``Q - ...`` and ``Item - ...`` (a spaced dash for the
  colon) are accepted too. ``[cid:...]`` / ``[image: ...]`` placeholder lines go.
* Apologies: "Apologies" (optionally "for absence", "from me", "for the meeting" and
  punctuation) as the first line; "Apologies, <reason>" / "Apologies - <reason>"
  unless the reason is about the reply itself ("Apologies, this is late"); "Sends
  apologies"; a first line saying the member cannot attend ("Sorry, I can't make the
  meeting"); a paragraph with a sentence saying so however phrased (`sentences.absence`),
  or under a marked item; or a subject starting or ending with "Apologies". "Apologies
  for the late reply" is not an apology for absence. The reason is the text that is not
  an item: a question or proposal for the group beside the apology is an item of its
  own, a request for the notes stays in the reason.
* Without markers, a lead-in followed by questions in prose gives one question each;
  questions one a line under a lead-in stay one item (a list). Time asked for in a
  sentence of the title or the details sets the minutes.
* Commands (``withdraw N``, ``+1 3 7``, ``answer 5``, ``done 2``, ``Theme: ...``, on a
  line or in a sentence: "I vote for 27 and 3", "please withdraw item 5") are never
  items; with no markers,
  the rest of such a reply is context, not a new item. A reply to a poll ("Re: Poll:")
  is a vote and has no items.
* A message carrying an iTIP REPLY or COUNTER (a calendar RSVP) has no items: its text is a
  comment on the RSVP. parse_reply reports it with ``"rsvp": true``.
* A reply whose whole text asks to leave ("unsubscribe", "please remove me"; see
  `leaving`) has ``leave`` set and no items; with no text of its own, its subject counts.
* Resources: with markers, one extra resource item titled by the filenames (body
  empty); without, the text is the resource item. With no text at all the title is
  the subject when it is a new subject (not a reply), else the first filename.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailflow import sentences
from mailflow.cleaning import (
    drop_signoff,
    is_signoff,
    member_text,
    normalise,
    paragraphs,
    trim_blank,
    without_symbols,
)
from mailflow.commands import VoteCommand, member_commands
from mailflow.leaving import asks_to_leave
from mailflow.mime import ParsedMail, parse_mail
from mailflow.original import without_original, without_our_wording
from mailflow.syntax import MAX_LINE, bounded, marker, short, withdrawal, withdrawal_in

__all__ = [
    "ParsedItem",
    "ParsedReply",
    "extract_items",
    "is_rsvp",
    "parse_reply",
    "read_reply",
]


@dataclass(frozen=True)
class ParsedItem:
    """One thing a member asked us to record."""

    kind: str  # "question" | "agenda" | "apology" | "resource"
    title: str
    body: str
    minutes: int | None


@dataclass(frozen=True)
class ParsedReply:
    """The items found in a cleaned reply body, and the commands in it (withdrawals,
    priority votes, volunteers to answer, asking to leave), which are never items."""

    body: str
    items: tuple[ParsedItem, ...]
    apologies: bool
    withdraw: tuple[int, ...]
    votes: tuple[VoteCommand, ...] = ()
    volunteers: tuple[int, ...] = ()
    leave: bool = False
    done: tuple[int, ...] = ()  # actions closed: "done 2", "#3 done"
    themes: tuple[str, ...] = ()  # themes proposed for the weekly chat's poll: "Theme: ..."


_I = re.IGNORECASE
_HEADING = re.compile(  # "Questions:" / "Items for the meeting:" over a list of entries
    r"^\s*(?:\*\*)?(?:[\w'’]+\s+){0,4}(?P<kind>questions|items|agenda items|topics)"
    r"(?:\s+[\w'’]+){0,4}\s*:(?:\*\*)?\s*$",
    _I,
)
_LIST_ENTRY = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•·–])\s+(?P<text>\S.*)$")
_NO_ITEM = re.compile(
    r"^\s*(?:(?:aye|yes|yep|no|ok|okay|hi|hello)\b[\w ]{0,12}[,!.]\s*)?"
    r"(nothing|no (new )?(items?|questions?|agenda items?|points?)|none)\b|"
    r"^\s*(i'?ll|i will|will|i shall)( definitely| certainly)? (be there|attend|come|see you)\b|"
    r"^\s*(count me in|see you (there|then|on)|looking forward|happy to attend)\b",
    _I,
)
_NUMBER = r"\d{1,3}(?:[.,]\d{1,2})?"
_UNIT = r"m|mins?|minutes?|h|hrs?|hours?|munud"
_ABOUT = r"(?:(?:approx(?:imately)?|about|around|roughly|c|ca|up to|max(?:imum)?|tua)\.?\s*|~\s*)?"
_PLEASE = r"(?:\s*+(?:please|pls|max(?:imum)?|tops|or so|ish|at most|if poss(?:ible)?))?"
_AMOUNT = (  # "10m", "10-15 mins" (a range asks for the most), "about 20 minutes please"
    rf"{_ABOUT}(?P<n>{_NUMBER})(?:\s*(?:-|–|to)\s*(?P<upto>{_NUMBER}))?\s*(?P<unit>{_UNIT})"
    rf"\.?{_PLEASE}"
)
_WORDS = (  # "half an hour", "tua hanner awr"
    r"(?:about |around |approx\.? |tua )?(?P<words>half an hour|an hour|a quarter of an "
    rf"hour|quarter of an hour|one hour|hanner awr|awr){_PLEASE}"
)
# The patterns searched for at the end of a title start only where a run of spaces
# starts ((?<!\s)), and take runs of spaces whole (*+): a title of 40,000 spaces was
# otherwise tried at every split and took half a minute.
_TIME_START = r"(?<!\s)\s*+"
_TIME_END = r"\s*+[\])]\s*+[.!]?\s*+$"
_TIME = re.compile(rf"{_TIME_START}[\[(]\s*+{_AMOUNT}\s*+[!.]?{_TIME_END}", _I)  # "[10m]"
_TIME_WORDS = re.compile(rf"{_TIME_START}[\[(]\s*+{_WORDS}{_TIME_END}", _I)  # "(half an hour)"
_TIME_DASH = re.compile(  # "Budget - 10 mins", "Budget, about 10 mins please": a unit in words
    rf"(?<!\s)(?:\s++[-–—]|\s*+,)\s*+{_ABOUT}(?P<n>{_NUMBER})\s*+"
    rf"(?P<unit>mins?|minutes?|hrs?|hours?|munud)\.?{_PLEASE}\s*+[.!]?\s*+$",
    _I,
)
_TIME_CLOCK = re.compile(  # "[0:15]", "(1:00)": hours and minutes
    rf"{_TIME_START}[\[(]\s*+(?P<hours>\d):(?P<mins>[0-5]\d){_TIME_END}"
)
_TIME_FIRST = re.compile(rf"^\s*+[\[(]\s*+(?:{_AMOUNT}|{_WORDS})\s*+[\])]\s*", _I)  # "[10m] Title"
_TIME_LINE = re.compile(  # a line of its own under the title: "15 mins please"
    rf"^\s*+[\[(]?\s*+(?:{_AMOUNT}|{_WORDS})\s*+[\])]?\s*+[.!]?\s*+$", _I
)
_COUNT = r"\d{1,3}|five|ten|fifteen|twenty|twenty-five|thirty|forty|forty-five|sixty"
_ASKED = re.compile(  # "Could I have ten minutes to ...", "Yes please, 10 mins for the budget"
    r"\b(?:(?:could|can|may) (?:i|we) (?:have|get|take|use)|(?:i|we)['’]?d (?:also )?like|"
    r"(?:i|we) would (?:also )?like|(?:i|we) need|please allow|ask(?:ing)? for)\s+"
    r"(?:about\s+|around\s+|roughly\s+|a quick\s+|a good\s+)?"
    rf"(?:(?P<count>{_COUNT})\s*(?:mins?|minutes)\b|"
    r"(?P<words>(?:a )?quarter of an hour|half an hour|an hour))|"
    rf"^\s*(?:yes,?\s*(?:please,?\s*)?)?(?P<first>{_COUNT})\s*(?:mins?|minutes)\s+(?:for|on|please)\b",
    _I,
)
_MIN = r"\s*+(?:mins?|minutes?)\b"
_ASKED_IN_SENTENCE = re.compile(  # "on the agenda for 10 minutes please", "a 10 minute slot"
    rf"\b(?:agenda|slot|item|time|discussion)\s+(?:\w+\s+){{0,3}}?for\s+(?:about\s+|around\s+|"
    rf"roughly\s+|up to\s+)?(?P<count>{_COUNT}){_MIN}|"
    rf"\b(?P<count2>{_COUNT})[\s-]*+min(?:ute)?s?\s+(?:slot|item|discussion|update|agenda|"
    r"presentation|session)\b|"
    r"\b(?:need|needs|take|takes|want|give (?:it|me|us)|allow|only need|just need)\s+"
    rf"(?:about\s+|around\s+|roughly\s+|max(?:imum)?\s+|up to\s+)?(?P<count3>{_COUNT}){_MIN}|"
    rf"\b(?P<count4>{_COUNT}){_MIN}\s+"
    r"(?:please|pls|would be|should be|will do|would do|max|tops)\b",
    _I,
)
_BARE_MINUTES = re.compile(rf"{_TIME_START}\[\s*+(?P<n>\d{{1,2}})\s*+\]\s*+$")  # "[10]": no unit
_COUNT_WORDS = {"five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "twenty-five": 25,
                "thirty": 30, "forty": 40, "forty-five": 45, "sixty": 60}  # fmt: skip
_WORD_MINUTES = {
    "half an hour": 30,
    "an hour": 60,
    "one hour": 60,
    "a quarter of an hour": 15,
    "quarter of an hour": 15,
    "hanner awr": 30,
    "awr": 60,
}
_GREETING_WORDS = (
    r"hi|hello|hey|hiya|dear|morning|afternoon|evening|good morning|good afternoon|"
    r"good evening|greetings|hi there|hello there|bonjour|bonsoir|salut|cher|chère|chers|"
    r"chères|hallo|guten morgen|guten tag|guten abend|liebe|lieber|sehr geehrte|"
    r"sehr geehrter|sehr geehrtes|moin|servus|hola|buenos días|buenas tardes|buenas|"
    r"estimado|estimada|estimados|estimadas|querido|querida|queridos|shwmae|helo|"
    r"bore da|prynhawn da|noswaith dda|annwyl|s'mae|beste|hoi|goedemorgen|goedemiddag|"
    r"ciao|salve|buongiorno|gentile|gentili|caro|cara|cari|olá|bom dia|hej|"
    r"buonasera|carissim[oa]|oi|ol[áa] a todos|prezad[oa]s?|boa tarde|boa noite|"
    r"dzie[ńn] dobry|witam|witaj|cze[śs][ćc]|szanown[iya] pa[ńn]stwo|szanown[ay] pani|"
    r"szanowny panie|drog[aiy]|drodzy|goedenavond|geachte|hallo allemaal|coucou|madame|"
    r"monsieur|gr[üu](ß|ss) gott|gr[üu]ezi|hallo zusammen|buenas noches|saludos|"
    r"доброго ранку|добрий день|доброго дня|добрий вечір|вітаю|привіт|шановн\w*|"
    r"доброе утро|добрый день|здравствуйте|привет|уважаем\w*|dia dhuit|dia daoibh|a chara|"
    r"madainn mhath|feasgar math|hal[òo]|a charaid|a ch[àa]irdean|a chairde|"
    r"bun[ăa] ziua|bun[ăa] diminea[țţt]a|merhaba|iyi g[üu]nler|say[ıi]n"
)
_GREETING = re.compile(rf"^\s*(?:{_GREETING_WORDS})\b[^.?!\n]{{0,40}}[,.!:]?\s*$", _I)
_GREETING_PREFIX = re.compile(
    rf"^\s*(?:{_GREETING_WORDS})\b(?:[ \t]+[\w'’-]+){{0,3}}\s*[,!–—-]\s+(?P<rest>\S.*)$", _I
)
_NAME_COMMA = re.compile(r"^\s*[A-Z][\w'’-]+(\s+[A-Z][\w'’-]+)?\s*,\s*$")
# Any language: a first line of one to four words ending in a comma is a salutation
# ("Dzień dobry,", "Hej alla,", "Bonjour à tous,").
_SALUTATION = re.compile(r"^\s*[^\W\d_][^\s\d?:;]*(?:\s+[^\s\d?:;]+){0,3}\s*,\s*$")
_HOPE = re.compile(
    r"^\s*(i )?(hope|trust) (you|this|all|everyone|that)\b[^?]{0,70}?[.!]*+\s*+$|"
    r"^\s*(thanks|thank you) (for|so much for) (the|your|this|sending|organising|"
    r"organizing|the reminder)\b[^?]{0,60}?[.!]*+\s*+$|"
    r"^\s*(apologies|sorry|my apologies) (for|about) (the |my )?(late|slow|delayed|belated)"
    r"( reply| response)?[^?]{0,40}?[.!]*+\s*+$|"
    r"^\s*(apologies|sorry) (for|about) (the|this) delay[^?]{0,40}?[.!]*+\s*+$",
    _I,
)
_HOPE_SENTENCE = re.compile(
    r"^\s*(i )?(hope|trust) (you|this|all|everyone)\b[^.!?]{0,70}[.!]+\s+", _I
)
_PLEASANTRY = re.compile(
    r"^\s*(thanks|thank you|many thanks|cheers|great|perfect|lovely|brilliant|noted|ok|"
    r"okay|got it|will do|received|see you|looking forward|sounds good|excellent|merci|"
    r"danke|vielen dank|gracias|muchas gracias|grazie|diolch|obrigad[oa]|dzi[ęe]kuj[ęe]|"
    r"bedankt|dank (je|u)|tack|takk|kiitos|go raibh (m[íi]le )?maith (agat|agaibh)|"
    r"m[òo]ran taing|tapadh (leat|leibh)|дякую|спасибі|спасибо)\b",
    _I,
)
_PLEASANTRY_LONG = re.compile(
    r"see you|look(ing)? forward|speak soon|have a (good|great|lovely|restful|relaxing|nice|"
    r"happy|wonderful)|that'?s all from me|that is all from me|nothing (else|more) from me|"
    r"[àa] (bient[ôo]t|"
    r"jeudi|lundi|mardi|mercredi|vendredi|demain|la prochaine|tout [àa] l'heure)|"
    r"bis (bald|dann|morgen|donnerstag|montag|dienstag|mittwoch|freitag)|hasta (pronto|"
    r"luego|ma[ñn]ana|el (lunes|martes|mi[ée]rcoles|jueves|viernes))|nos vemos|a presto|"
    r"ci vediamo|a gioved[ìi]|tot (ziens|dan|straks|donderdag)|welwch chi|wela i chi|"
    r"at[ée] (breve|logo|quinta)|do zobaczenia|vi ses|до зустрічі|до встречи|"
    r"(useful|helpful|productive|good|great|lovely) (meeting|session|discussion|chat|call|"
    r"minutes|notes)|"
    r"thank(s| you)( heaps| so much| very much)? for (getting|sending|circulating|organising|"
    r"organizing|chairing|"
    r"the minutes|the notes|the agenda)|much appreciated",
    _I,
)
_ABSENCE = re.compile(
    r"can'?t|cannot|can not|won'?t|will not|unable|not be able|not able|not make|"
    r"not attend|not be there|miss|absent|away|course|ofsted|inset|trip|residential|"
    r"leave|unwell|ill\b|appointment|clash|elsewhere|another meeting|governors|off site",
    _I,
)
_NOT_ABSENCE = re.compile(
    r"\b(late|delay|delayed|slow|belated|forgot|forgotten|typo|previous (e-?mail|message)|"
    r"last (e-?mail|message)|wrong|deadline|re-?send|sooner|earlier|this is)\b",
    _I,
)
_CANT_ATTEND = re.compile(
    r"(sorry|afraid|unfortunately|regret|apologies)\b.{0,60}?\b(can'?t|cannot|can not|"
    r"won'?t|will not|unable to|not be able to|not able to|couldn'?t)\s+(be able to\s+)?"
    r"(make|attend|come|join|be there|be with you|be at)|"
    r"\b(has|have) asked me to (send|pass on|give|offer) (her|his|their) apologies|"
    r"\bsends? (her|his|their) apologies|\b(send|sending) (my|our) (deputy|depute|assistant|"
    r"colleague)\b|\b(come|attend|be there) in my (place|stead)\b",
    _I,
)
_CANT_ATTEND_OTHER = re.compile(
    r"je ne (pourrai|peux|serai) pas (être|venir|assister|participer|pr[ée]sente?|l[àa])|"
    r"(muss|m[öo]chte) mich\b.{0,60}\bentschuldigen|(kann|werde|k[öo]nnen)\b.{0,40}\bnicht "
    r"(teilnehmen|kommen|dabei sein|da sein)|bin\b.{0,30}\bverhindert|"
    r"no (podr[ée]|puedo|podremos|voy a poder) (asistir|ir|estar|acudir|participar|"
    r"conectarme|unirme)|"
    r"non (potr[òo]|posso|riesco a|riuscir[òo] a) (partecipare|esserci|venire|essere present)|"
    r"(kan|zal|kunnen)\b.{0,20}\bniet\b.{0,20}\b(aanwezig|komen|deelnemen)|"
    r"\bben\b.{0,20}\bverhinderd|"
    r"n[ãa]o (poderei|posso|vou poder|conseguirei) (comparecer|ir|estar|participar)|"
    r"nie (b[ęe]d[ęe]|dam rady|mog[ęe])\b.{0,20}\b(by[ćc]|przyj[śs][ćc]|uczestniczy[ćc]|"
    r"dotrze[ćc])|"
    r"(methu|ni fydda i|ni fyddaf|fydda i ddim|dw i ddim yn gallu)\b.{0,20}\b(dod|bod yna|"
    r"mynychu|bod yn bresennol)|n[íi] bheidh m[ée] in ann|не зможу|не смогу|"
    r"참석(이|하기)? ?어렵|참석하지 못|참석할 수 없|欠席|参加できません|出席できません|"
    r"无法参加|不能参加|無法參加|不能參加",
    _I,
)
# "Apologies" alone on the first line, in the group's other languages
_APOLOGY_ALONE = re.compile(  # alone, or with a reason after a dash or colon (not a comma:
    # "Entschuldigung, eine Frage" is "excuse me")
    r"^\s*(ymddiheuriadau|excuses|entschuldigung|disculpas|scuse|desculpas|przeprosiny|"
    r"afmelding|leithscéal|вибачте)\s*(?:[.!]?\s*$|\s[-–—:]\s*(?P<reason>\S.*)$)",
    _I,
)
_CANT_MAKE_IT = re.compile(
    r"^\s*(?:i\s+|i'm\s+|i am\s+)?(?:can'?t|cannae|canny|cannot|won'?t|will not|i'?ll not|"
    r"unable to|not able to)\s+(?:be able to\s+)?"
    r"(?:make|attend|come|join|be there|connect|dial in|log on|be online)\b",
    _I,
)
_APOLOGY = re.compile(
    r"^\s*(?:please (?:accept|send|record|note|take) )?(?:my |our )?"
    r"(?:apologies|apols|regrets|ymddiheuriadau|sends? (?:my |her |his |their )?apologies)\b"
    r"(?P<tail>.*)$",
    _I,
)
_APOLOGY_PHRASE = re.compile(  # matched at a position, so no "^"
    r"\s*(for (my |our )?absence|from (me|us)|for (tonight|today|tomorrow|this evening)|"
    r"for (the |this |next |our |thursday'?s |"
    r"the next |this term'?s |the autumn |the spring |the summer )?(meeting|session|"
    r"thursday|monday|tuesday|wednesday|friday|\d{1,2}(st|nd|rd|th)?\b[\w ]{0,12}))\b",
    _I,
)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|r|rif|ynt|fw|fwd|tr|wg|ymateb)\s*:\s*)+", _I)


def _spaced(title: str) -> str:
    """A title with runs of spaces made one (Word's spell-check spans leave doubles)."""
    return re.sub(r"[ \t]{2,}", " ", title)


def _without_trailing_signoff(title: str) -> str:
    """A title without a sign-off written after its last sentence ("...? Cheers, Dave")."""
    for end in re.finditer(r"[?.!]\s+", title):
        # only the last few hundred characters can be a sign-off: no copy of the rest
        if len(title) - end.end() <= MAX_LINE and is_signoff(title[end.end() :]):
            return title[: end.end()].rstrip()
    return title


@dataclass
class _Block:
    """A marker and the lines up to the next marker."""

    kind: str
    title: str
    lines: list[str]
    width: int = 0  # length of the marker line, to spot hard-wrapped titles


def extract_items(
    body: str,
    *,
    has_attachments: bool = False,
    subject: str = "",
    attachment_names: Sequence[str] = (),
) -> ParsedReply:
    """The items in a cleaned reply body, following the reply syntax of DESIGN.md.

    `attachment_names` (the non-inline filenames) title the resource item; without
    them a reply with attachments gets the title "Attachment".
    """
    text = normalise(body).strip()
    # Cleaning is idempotent on clean text, and makes a quote-only fallback body
    # (what cleaning.clean_body returns when the member wrote nothing) yield no items.
    # Items are looked for in the start of the text only; `body` keeps all of it.
    own, _ = bounded(member_text(text))
    subject, _ = bounded(subject)
    withdraw, lines = _take_withdrawals(own.split("\n"))
    commands = member_commands("\n".join(lines))
    if commands.found:
        lines = commands.rest.split("\n")
    pre, blocks = _split_markers(_marker_after_greeting(_expand_headings(lines)))
    pre = trim_blank(pre)
    if blocks and pre and pre[-1].rstrip().endswith(":"):
        pre = pre[:-1]  # "Two for the list though:" leads in to the markers
    pre = _opening(pre)
    reason, pre, asked = _apology(pre, subject)
    if reason is None:
        reason = _apology_in_blocks(blocks)
    if reason and has_attachments and not blocks:
        reason, pre = _describes_attachment(reason)
    items: list[ParsedItem] = []
    if reason is not None:
        items.append(ParsedItem("apology", "Apologies", reason, None))
    items += asked
    items += [_marker_item(block) for block in blocks]
    names = [n for n in attachment_names if n] or ["Attachment"]
    if blocks or ((withdraw or commands.found) and not has_attachments):  # the rest is comment
        if has_attachments:
            items.append(ParsedItem("resource", ", ".join(names), "", None))
    elif pre and not _pleasantry(pre):
        items += (
            _prose_questions(pre)
            or _paragraph_items(pre)
            or [_free_item(pre, "resource" if has_attachments else "")]
        )
    elif has_attachments:
        items.append(ParsedItem("resource", _resource_title(subject, names), "", None))
    if not items and not withdraw and not commands.found:
        items = _subject_items(subject, blank=not "".join(lines).strip())
    return ParsedReply(text, tuple(items), reason is not None, tuple(withdraw),
                       commands.votes, commands.volunteers, done=commands.done,
                       themes=commands.themes)  # fmt: skip


def _subject_items(subject: str, *, blank: bool) -> list[ParsedItem]:
    """Items from the subject of a reply whose body gave none.

    A subject with a marker ("Q: ...", "Re: Item: ... [10m]") always counts; a fresh
    subject (not "Re:"/"Fwd:") is the text of a message with an empty body.
    """
    text = " ".join(subject.split())
    fresh = bool(text) and not _REPLY_PREFIX.match(text)
    text = _REPLY_PREFIX.sub("", text).strip()
    _, blocks = _split_markers([text])
    if blocks:
        return [_marker_item(block) for block in blocks]
    if blank and fresh and text and not _pleasantry([text]) and not _APOLOGY.match(text):
        return [_free_item([text], "")]
    return []


def _take_withdrawals(lines: list[str]) -> tuple[list[int], list[str]]:
    """The items withdrawn, on a line of their own or in a sentence (which then leaves
    the text), and the other lines."""
    numbers: list[int] = []
    rest: list[str] = []
    for line in lines:
        match = withdrawal(line)
        if match:
            # an item number has at most nine digits; "withdraw 1111..." names no item
            numbers += [int(n) for n in re.findall(r"\d+", match.group(1)) if len(n) <= 9]
            continue
        said = sentences.sentences(line) if short(line) and "withdraw" in line.lower() else []
        found = [withdrawal_in(sentence) for sentence in said]
        if not any(found):
            rest.append(line)
            continue
        for match in filter(None, found):
            numbers += [int(n) for n in re.findall(r"\d+", match.group(0))]
        kept = " ".join(sentence for sentence, match in zip(said, found, strict=True) if not match)
        rest += [kept] if kept else []
    return numbers, rest


def _expand_headings(lines: list[str]) -> list[str]:
    """ "Questions:" over a list: each entry becomes a ``Q:`` line ("Items:" an ``Item:``
    line). Lines under an entry stay its details; the list ends at a paragraph that is
    not an entry. A heading with no list under it is left as it is."""
    out: list[str] = []
    prefix = ""
    for n, line in enumerate(lines):
        heading = _HEADING.match(line) if ":" in line else None  # a heading ends in ":"
        if heading:
            following = next((ln for ln in lines[n + 1 :] if ln.strip()), "")
            if _LIST_ENTRY.match(following) and not marker(following):
                prefix = "Q" if heading["kind"].lower().startswith("q") else "Item"
                continue
        entry = _LIST_ENTRY.match(line) if prefix else None
        if entry and not marker(line):
            out.append(f"{prefix}: {entry['text']}")
            continue
        if prefix and line.strip() and out and not out[-1].strip():
            prefix = ""  # a new paragraph that is not an entry ends the list
        out.append(line)
    return out


def _marker_after_greeting(lines: list[str]) -> list[str]:
    """ "Hi Sam, Q: ..." / "Hi Sam! Item: ...": the greeting goes, the marker stays."""
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        prefix = _GREETING_PREFIX.match(_plain(line))
        if prefix and marker(line[prefix.start("rest") :]):
            return [*lines[:n], line[prefix.start("rest") :], *lines[n + 1 :]]
        return lines
    return lines


def _split_markers(lines: list[str]) -> tuple[list[str], list[_Block]]:
    pre: list[str] = []
    blocks: list[_Block] = []
    for line in lines:
        match = marker(line)
        if match:
            kind = "question" if match["kind"].lower().startswith(("q", "cw")) else "agenda"
            blocks.append(_Block(kind, match.group("rest").strip(), [], len(line.strip())))
        elif blocks:
            blocks[-1].lines.append(line)
        else:
            pre.append(line)
    return pre, blocks


def _marker_item(block: _Block) -> ParsedItem:
    lines = trim_blank(block.lines)
    title, minutes = _time_request(block.title)  # "Item: [10m]" with the title below
    width = block.width
    if not title and lines:
        title, width, lines = lines[0].strip(), len(lines[0].strip()), lines[1:]
    title, lines = _unwrap_title(title, width, lines)
    title, kind, minutes, lines = _title_and_time(title, block.kind, lines, minutes)
    return ParsedItem(kind, title, _tidy_body(lines), minutes)


def _title_and_time(
    title: str, kind: str, lines: list[str], minutes: int | None = None
) -> tuple[str, str, int | None, list[str]]:
    """An item's title made tidy, its kind (without one, a question if the title ends
    with "?") and the time it asks for: at either end of the title, on a line of its own
    under it ("15 mins please", which then leaves `lines`), or in its words ("Could I
    have ten minutes to ..."); `minutes` is a request already found."""
    title, asked = _time_request(_without_trailing_signoff(_spaced(title)))
    minutes = asked or minutes
    if not kind:
        kind = "question" if re.search(r"\?[\s\"'”’)\]]*$", without_symbols(title)) else "agenda"
    below = _TIME_LINE.match(lines[0]) if lines and minutes is None else None
    if below:
        minutes, lines = _minutes(below), lines[1:]
    if minutes is None:
        title, minutes = _asked_minutes(title, kind)
    if minutes is None:  # asked for in the details ("10 minutes would be plenty")
        minutes = next(filter(None, map(_minutes_asked, lines[:_TIME_LINES])), None)
    return title, kind, minutes, lines


_TIME_LINES = 12  # the lines of an item's details searched for a time request


def _asked_minutes(title: str, kind: str) -> tuple[str, int | None]:
    """Time asked for in other ways: "[10]" (the unit forgotten) at the end of an agenda
    item, or in the sentence ("Could I have ten minutes to show ...", "a quarter of an
    hour"), which stays as it is."""
    bare = _BARE_MINUTES.search(title) if kind == "agenda" else None
    if bare and 1 <= int(bare["n"]) <= 90:
        return title[: bare.start()].strip(), int(bare["n"])
    return title, _minutes_asked(title)


def _minutes_asked(text: str) -> int | None:
    """The minutes a sentence asks for ("Could I have ten minutes to ...", "on the agenda
    for 10 minutes please", "a 15 minute slot"), if any."""
    asked = _ASKED.search(text) or _ASKED_IN_SENTENCE.search(text[:MAX_LINE])
    if asked is None:
        return None
    groups = asked.groupdict()
    if groups.get("words"):
        return _WORD_MINUTES[groups["words"].lower()]
    count = next(v for k, v in groups.items() if k != "words" and v).lower()
    return (_COUNT_WORDS[count] if count in _COUNT_WORDS else int(count)) or None


def _unwrap_title(title: str, width: int, lines: list[str]) -> tuple[str, list[str]]:
    """Join lines that continue a hard-wrapped title (plain-text Outlook and Gmail wrap
    at about 76 columns): the title line is long, has no closing punctuation or time
    request, and the next line starts with a lower-case letter."""
    rest = list(lines)
    while rest and width >= 60 and _continues(title, rest[0]):
        width = len(rest[0].strip())
        title = f"{title.rstrip()} {rest.pop(0).strip()}"
    return title, rest


def _continues(title: str, following: str) -> bool:
    text = following.strip()
    if not text or not text[0].islower() or marker(following):
        return False
    return not title.rstrip().endswith((".", "?", "!", ":", ";", "]", ")"))


def _time_request(title: str) -> tuple[str, int | None]:
    """Split a trailing "[10m]" / "[1h]" request off a title."""
    first = _TIME_FIRST.match(title)
    if first and title[first.end() :].strip():
        return title[first.end() :].strip(), _minutes(first)
    match = _TIME_WORDS.search(title) or _TIME.search(title) or _TIME_CLOCK.search(title)
    dash = None if match else _TIME_DASH.search(title)
    if dash and title[: dash.start()].strip():
        match = dash
    if not match:
        return title.strip(), None
    return title[: match.start()].strip(), _minutes(match)


def _minutes(match: re.Match[str]) -> int | None:
    """The minutes a time request asks for (a range asks for the most)."""
    groups = match.groupdict()
    if groups.get("words"):
        return _WORD_MINUTES[groups["words"].lower()]
    if groups.get("hours"):
        return int(groups["hours"]) * 60 + int(groups["mins"]) or None
    number = float((groups.get("upto") or groups["n"]).replace(",", "."))
    scale = 60 if groups["unit"].lower().startswith("h") else 1
    return round(number * scale) or None


_BULLET_MARK = re.compile(r"^[*•·▪◦]\s+")  # Outlook writes "*   " for an HTML list


def _tidy_body(lines: list[str]) -> str:
    """Item details: trimmed lines, one blank line between paragraphs, no sign-off."""
    lines = trim_blank(drop_signoff(trim_blank([ln.strip() for ln in lines])))
    text = "\n".join(_BULLET_MARK.sub("- ", ln) for ln in lines)
    return (re.sub(r"\n{3,}", "\n\n", text) if "\n\n\n" in text else text).strip()


# Greetings and pleasantries a reply opens with; a bound, so that "Hi, Hi, Hi, ..."
# is not taken apart one greeting at a time over the whole text.
_MAX_OPENINGS = 8


def _opening(lines: list[str]) -> list[str]:
    """Drop leading greetings, thank-yous and "hope you are well" lines; unwrap "Hi Sam,
    <text>"."""
    lines = trim_blank(lines)
    for _ in range(_MAX_OPENINGS):
        if not lines:
            break
        first = lines[0].strip()
        probe = _plain(first)
        if short(probe) and (
            _GREETING.match(probe)
            or (is_signoff(probe) and any(ln.strip() for ln in lines[1:]))  # "Thanks Sam."
            or (_HOPE.match(probe) and not _WANTS.search(probe))
            or (
                (_NAME_COMMA.match(probe) or _SALUTATION.match(probe)) and not _APOLOGY.match(probe)
            )
        ):
            lines = trim_blank(lines[1:])
            continue
        prefix = _GREETING_PREFIX.match(probe)
        if prefix:
            lines = [first[prefix.start("rest") :], *lines[1:]]
            continue
        hope = _HOPE_SENTENCE.match(probe)
        if hope and first[hope.end() :].strip():
            lines = [first[hope.end() :], *lines[1:]]
            continue
        break
    return lines


def _apology(lines: list[str], subject: str) -> tuple[str | None, list[str], list[ParsedItem]]:
    """(reason, remaining lines, items asked for beside it) if the reply sends apologies
    for absence: said on its first line, in any sentence of a paragraph (see
    `sentences.absence`), or in the subject. A question for the group or a proposal
    in the apology's paragraphs is an item of its own, never the apology's text."""
    said_first = _says_apologies(lines[0]) if lines else None
    if said_first is not None:
        reason, items = _split_items([said_first, *lines[1:]])
        return reason, [], items
    spans = paragraphs(lines)
    for k, (start, end) in enumerate(spans[:_APOLOGY_PARAGRAPHS]):
        said = sentences.sentences(" ".join(lines[start:end]))
        if any(map(_absent, said)):
            first = spans[0][0] if k == 0 else start
            last = len(lines) if k == 0 else end
            reason, items = _split_items(lines[first:last])
            return reason, [*lines[:first], *lines[last:]], items
    if _subject_apology(subject):
        reason, items = _split_items(lines)
        return reason, [], items
    return None, lines, []


def _apology_in_blocks(blocks: list[_Block]) -> str | None:
    """An apology written as a paragraph of its own under a marked item ("Q: ...", then
    "Sorry, I can't make Thursday - Year 6 residential."): taken out of the item's
    details and returned as the apology's text."""
    for block in blocks:
        for start, end in paragraphs(block.lines):
            said = sentences.sentences(" ".join(block.lines[start:end]))
            absent = [_absent(s) for s in said]  # most paragraphs stop here
            if any(absent) and all(
                a or not _asks_group(s) for a, s in zip(absent, said, strict=True)
            ):
                reason = _tidy_body(block.lines[start:end])
                del block.lines[start:end]
                return reason
    return None


_APOLOGY_PARAGRAPHS = 30  # the paragraphs searched for an apology (a reply has a few)


def _says_apologies(first: str) -> str | None:
    """The first line as the apology's text (without "Apologies") if it sends apologies
    in the ways the reply syntax names; else None."""
    first = first.strip()
    plain = _plain(first)
    match = _APOLOGY.match(plain)
    if match:
        rest = _apology_rest(first[match.start("tail") :])
        if rest is not None:
            return rest
    alone = _APOLOGY_ALONE.match(first)
    if alone:
        return alone["reason"] or ""
    if (
        _CANT_ATTEND.search(plain)
        or _CANT_ATTEND_OTHER.search(first)
        or (_CANT_MAKE_IT.match(plain) and not _NOT_ABSENCE.search(plain))
    ):
        return first
    return None


def _split_items(lines: list[str]) -> tuple[str, list[ParsedItem]]:
    """An apology's text, and the items in it: from each paragraph, the first sentence
    that asks the group something or proposes something (not about the absence itself,
    such as asking for the notes) starts an item, titled by the sentences up to and
    including it, with the rest of the paragraph as its details."""
    kept: list[str] = []
    items: list[ParsedItem] = []
    spans = paragraphs(lines)
    lead: int | None = None  # where in `kept` a paragraph that only leads in starts
    for start, end in spans:
        said = sentences.sentences(" ".join(lines[start:end]))
        at = next((n for n, sentence in enumerate(said) if _asks_group(sentence)), None)
        if at is None:
            lead = len(kept) if len(said) == 1 and _leads_in(said[0]) else None
            kept += [*lines[start:end], ""]
            continue
        before = said[:at]
        if before and _leads_in(before[-1]):  # "One for the group in my absence:" is no text
            before = before[:-1]
        elif lead is not None and at == 0:
            del kept[lead:]
        lead = None
        if before:
            kept += [" ".join(before), ""]
        title, kind, minutes, rest = _title_and_time(said[at], "", [" ".join(said[at + 1 :])])
        items.append(ParsedItem(kind, title, _tidy_body(rest), minutes))
    return _tidy_body(kept), items


def _asks_group(sentence: str) -> bool:
    """Whether a sentence beside an apology is an item: a question or proposal for the
    group, not about the absence, not itself an apology and not a lead-in."""
    return (
        (sentences.question(sentence) or sentences.proposal(sentence))
        and not sentences.about_absence(sentence)
        and not _absent(sentence)
        and not sentences.lead_in(sentence)
    )


def _leads_in(sentence: str) -> bool:
    """Whether a sentence only leads in to the item after it ("Two from me:")."""
    return sentence.endswith(":") or sentences.lead_in(sentence)


# A word every match of `_CANT_ATTEND_OTHER` holds (its negation or verb), searched for
# in the lowercased sentence first: most sentences have none and are not searched further.
# The words without word boundaries are searched apart, in text outside ASCII only (a
# search for both took twice as long).
_OTHER_HINTS = (
    r"pas|entschuldig|nicht|verhindert|no|non|niet|verhinderd|n[ãa]o|nie|methu|fydd|ddim|"
    r"bheidh|не"
)
_OTHER_HINT = re.compile(rf"(?=\w)\b(?:{_OTHER_HINTS})")
_OTHER_HINT_CJK = re.compile(r"참석|欠席|参加|出席|无法|不能|無法")
# The hints of both tests in one search (as fast as either alone): a sentence with none
# of them, nor "n't" (most sentences), is not absent and is not searched further.
_ANY_HINT = re.compile(rf"(?=\w)\b(?:{sentences.ABSENCE_HINTS}|{_OTHER_HINTS})")


def _absent(sentence: str) -> bool:
    """Whether a sentence says the member will not be there, in English and Welsh
    however phrased (`sentences.absence`) or in the group's other languages."""
    # plain apostrophes, as `sentences.absence` reads it (the other hints hold none)
    low = sentence.replace("’", "'").lower()
    cjk = not low.isascii() and _OTHER_HINT_CJK.search(low)
    if "n't" not in low and not cjk and not _ANY_HINT.search(low):
        return False
    if sentences.absence(sentence):
        return True
    return bool((cjk or _OTHER_HINT.search(low)) and _CANT_ATTEND_OTHER.search(sentence))


_ATTACHED = re.compile(r"\battach|\benclos|\bhere is\b|\bhere's\b|\bsharing\b", _I)


def _describes_attachment(reason: str) -> tuple[str, list[str]]:
    """Split an apology's text where a later paragraph describes the attached file
    ("I've attached our policy ..."): that paragraph titles the resource."""
    paragraphs = reason.split("\n\n")
    for k, paragraph in enumerate(paragraphs[1:], 1):
        if _ATTACHED.search(paragraph):
            return "\n\n".join(paragraphs[:k]), "\n\n".join(paragraphs[k:]).split("\n")
    return reason, []


def _plain(text: str) -> str:
    """`text` with typographic apostrophes made plain, for matching (same length)."""
    return text.replace("’", "'").replace("‘", "'")


def _apology_rest(tail: str) -> str | None:
    """What follows "Apologies" if it is an apology for absence, else None."""
    tail = re.sub(r"^\s*(please|pls)\b", "", tail, flags=_I)
    plain = _plain(tail)
    phrase = _APOLOGY_PHRASE.match(plain)
    if phrase is None and tail.strip() and not re.match(r"^\s*[,.!:;–—-]", tail):
        return None
    end, following = 0, phrase
    while following:  # "from me", then "for the 14th" (matched in place: no copies)
        end = following.end()
        following = _APOLOGY_PHRASE.match(plain, end)
    rest = re.sub(r"^[\s,.!:;–—-]+", "", tail[end:])
    if rest and not phrase and _NOT_ABSENCE.search(rest) and not _ABSENCE.search(_plain(rest)):
        return None
    return rest


def _subject_apology(subject: str) -> bool:
    text = _REPLY_PREFIX.sub("", subject).strip().lower()
    if re.search(r"apologies for (the |my )?(late|delay|slow)", text):
        return False
    return bool(re.match(r"^apologies\b", text) or re.search(r"[-–—:(]\s*apologies\W*$", text))


_WANTS = re.compile(  # a thank-you that goes on to ask for something is not only thanks
    r"\b(raise|(?<!nothing to )add|discuss|item|agenda item|question|could we|can we|"
    r"would like|i'?d like|next time|share|bring)\b",
    _I,
)


def _pleasantry(lines: list[str]) -> bool:
    """True if the whole text is a thank-you, a "see you there" or a "nothing from me"."""
    text = _plain(" ".join(ln.strip() for ln in lines if ln.strip()))
    if "?" in text or len(text) > 140:  # a thank-you runs to two short sentences at most
        return False
    if _NO_ITEM.match(text):
        return not re.search(
            r"\bbut\b(?!,?\s+(i'?ll|i will|will|see you|look))|\bexcept\b|\bapart from\b", text, _I
        )
    if not _PLEASANTRY.match(text):
        return False
    if len(text.split()) <= 6:
        return True
    return bool(_PLEASANTRY_LONG.search(text)) and not _WANTS.search(text)


def _free_item(lines: list[str], kind: str) -> ParsedItem:
    """The one item of a reply without markers: titled by its first meaningful line."""
    lines = trim_blank(lines)
    title, rest = _unwrap_title(lines[0].strip(), len(lines[0].strip()), lines[1:])
    following = [ln for ln in rest if ln.strip()]
    if title.endswith(":") and following and not re.match(r"^\s*([-*•]|\d+[.)])\s", following[0]):
        rest = trim_blank(rest)
        title, rest = _unwrap_title(rest[0].strip(), len(rest[0].strip()), rest[1:])
    title, kind, minutes, rest = _title_and_time(title, kind, rest)
    return ParsedItem(kind, title, _tidy_body(rest), minutes)


_CONNECTIVE = re.compile(r"^(?:and|also|plus|secondly|second|finally|lastly|then)\b[,:]?\s*", _I)


_COUNTED = re.compile(
    r"^\W*(?:just\s+|i'?ve got\s+|i have\s+|here are\s+)?(?P<n>two|three|four|2|3|4|"
    r"(?:a\s+)?couple)\b",
    _I,
)
_COUNTS = {"two": 2, "2": 2, "three": 3, "3": 3, "four": 4, "4": 4}


def _counted(lead_in: str) -> int | None:
    """How many things a lead-in announces ("Two questions from me:" is 2), if it says."""
    match = _COUNTED.match(_plain(lead_in))
    if match is None:
        return None
    return _COUNTS.get(match["n"].lower(), 2)  # "a couple" is two


def _prose_questions(lines: list[str]) -> list[ParsedItem]:
    """Several questions in prose after a lead-in ("Two things I'd love views on: how
    ...? And has anyone ...?"): one question item each, a sentence that follows a
    question being its details. The lead-in titles nothing. Without a lead-in, or with
    fewer than two questions, or with the questions one a line (a list: its first line
    titles it, the others are its details), nothing (the text is one item), unless the
    lead-in counts them ("Two questions from me:" over two question lines)."""
    said = [s for start, end in paragraphs(lines)
            for s in sentences.sentences(" ".join(lines[start:end]))]  # fmt: skip
    lead = next((n for n, s in enumerate(said) if sentences.lead_in(s)), None)
    if lead is None or lead > 1:
        return []
    asked_for = [s for s in said[lead + 1 :] if sentences.question(s)]
    starts = {" ".join(ln.split())[:30] for ln in lines}
    listed = all(s[:30] in starts for s in asked_for)
    if len(asked_for) < 2 or (listed and _counted(said[lead]) != len(asked_for)):
        return []
    asked: list[tuple[str, list[str]]] = []
    for sentence in said[lead + 1 :]:
        if sentences.question(sentence):
            text = _CONNECTIVE.sub("", sentence)
            asked.append((text[:1].upper() + text[1:], []))
        elif asked:
            asked[-1][1].append(sentence)
        else:
            return []  # a statement before the first question: not a list of questions
    items = []
    for title, details in asked:
        title, kind, minutes, rest = _title_and_time(title, "question", [" ".join(details)])
        items.append(ParsedItem(kind, title, _tidy_body(rest), minutes))
    return items


# a question that goes on from the one before ("And is anyone challenging it?", "Are
# yours going down as well?") is its details, not an item of its own
_FOLLOWS_ON = re.compile(
    r"^\W*(?:and|or|but|so|also|plus|if so)\b|\b(?:as well|too|also|either|it|its|they|them|"
    r"their|theirs|this|that|these|those|the same|yours)\b",
    _I,
)


_ITEM_PARAGRAPHS = 30  # the paragraphs read for items of their own


def _paragraph_items(lines: list[str]) -> list[ParsedItem]:
    """Items asked for a paragraph each ("What is everyone doing for ...?", a blank line,
    "Has anyone switched ...?"): when the first paragraph (after a lead-in, if any) asks
    the group something or proposes something, each later paragraph that opens with a
    proposal, or with a question that does not go on from the one before, starts an
    item of its own, and the paragraphs between are its details. Otherwise, or with one
    such paragraph, nothing (the text is one item)."""
    spans = paragraphs(lines)[:_ITEM_PARAGRAPHS]
    said = [sentences.sentences(" ".join(lines[a:b]))[:2] for a, b in spans]
    if said and _leads_in(said[0][0]):
        if len(said[0]) == 1:  # "Two from me:", alone or over the first item
            spans, said = spans[1:], said[1:]
        else:
            said[0] = said[0][1:]
    openings = [_plain(first[0]) for first in said]
    starts = [k for k, first in enumerate(openings) if _asks_group(first) and (
        k == 0 or sentences.proposal(first) or not _FOLLOWS_ON.search(first)
    )]  # fmt: skip
    if len(starts) < 2 or starts[0] != 0:
        return []
    ends = [*starts[1:], len(spans)]
    return [
        _free_item(lines[spans[k][0] : spans[end - 1][1]], "")
        for k, end in zip(starts, ends, strict=True)
    ]


def _resource_title(subject: str, names: Sequence[str]) -> str:
    """A fresh subject (not a reply to our mail) titles a text-less resource post."""
    if subject.strip() and not _REPLY_PREFIX.match(subject):
        return subject.strip()
    return names[0]


def read_reply(mail: ParsedMail, original: str | None = None) -> ParsedReply:
    """The items of an already parsed message (what ingest should call).

    `original` is the text of the mail of ours being answered, when known (see
    `sentmail`): its copies in the reply are removed first, wherever and however they
    are quoted (see `original`), before the fallback rules of `cleaning` run. Uses the
    sender's name to recognise a bare-name signature, gives automatic mail
    and calendar RSVPs no items, and passes the non-inline filenames for the
    resource title. `body` is the member's own text, or the whole text if they wrote
    nothing of their own.
    """
    files = [a for a in mail.attachments if not a.inline]
    names = _sender_names(mail.from_name, mail.from_address)
    mine = without_original(mail.text, original) if original else without_our_wording(mail.text)
    own = member_text(mine, names=names)
    body = own or normalise(mail.text).strip()
    if mail.automatic is not None or is_rsvp(mail):
        return ParsedReply(body, (), False, ())
    if is_poll_reply(mail):  # a vote; a theme or a closed action may come with it
        found = member_commands(own)
        return ParsedReply(body, (), False, (), done=found.done, themes=found.themes)
    signoffs = (*names, *(n.split()[0] for n in names if n.split()))
    if asks_to_leave(own or _REPLY_PREFIX.sub("", mail.subject), names=signoffs):
        return ParsedReply(body, (), False, (), leave=True)
    reply = extract_items(
        own,
        has_attachments=bool(files),
        subject=mail.subject,
        attachment_names=[a.filename for a in files],
    )
    return dataclasses.replace(reply, body=body)


def is_poll_reply(mail: ParsedMail) -> bool:
    """True for a reply to one of our polls ("Re: Poll: ..."): a vote, never items."""
    return bool(re.match(r"poll\s*:", _REPLY_PREFIX.sub("", mail.subject).strip(), _I))


def is_rsvp(mail: ParsedMail) -> bool:
    """True if the message carries an iTIP REPLY or COUNTER (a calendar's answer or
    proposed new time: recorded as the member's attendance, never as items)."""
    return any(_is_itip_reply(cal) for cal in mail.calendars)


def parse_reply(
    raw: bytes, *, envelope_from: str | None = None, original: str | None = None
) -> dict[str, object]:
    """What a reply would record: the DESIGN.md `inbox parse` JSON shape. Never raises.

    `original` is the text of the mail of ours being answered, if known (see
    `read_reply`).

    Keys: automatic (reason or None), body (cleaned text), items, attachments
    (non-inline only), plus apologies, withdraw, rsvp (True for a calendar REPLY or COUNTER), poll
    (True for a reply to a poll, which the server reads as a vote), leave (True when
    the whole reply asks to leave the group), and
    the commands a reply to a call for items would carry out: votes (``[{item,
    value}]``), volunteers (question ids), done (action ids closed) and themes (themes
    proposed for the weekly chat's poll). Command lines are not items, and neither
    is a comment written beside commands without a marker.
    Automatic mail and calendar replies never yield items.
    """
    mail = parse_mail(raw, envelope_from=envelope_from)
    result: dict[str, object] = {
        "automatic": mail.automatic,
        "body": mail.text.strip(),
        "items": [],
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size,
             "sha256": a.sha256}
            for a in mail.attachments
            if not a.inline
        ],
        "apologies": False,
        "withdraw": [],
        "rsvp": is_rsvp(mail),
        "poll": is_poll_reply(mail),
        "votes": [],
        "volunteers": [],
        "leave": False,
        "done": [],
        "themes": [],
    }  # fmt: skip
    try:
        reply = read_reply(mail, original)
    except Exception as exc:  # a parser bug must not lose the message: report it
        result["error"] = f"reply parsing failed: {type(exc).__name__}"
        return result
    result["body"] = reply.body
    result["items"] = [_item_dict(item) for item in reply.items]
    result["apologies"] = reply.apologies
    result["withdraw"] = list(reply.withdraw)
    result["votes"] = [{"item": v.item_id, "value": v.value} for v in reply.votes]
    result["volunteers"] = list(reply.volunteers)
    result["leave"] = reply.leave
    result["done"] = list(reply.done)
    result["themes"] = list(reply.themes)
    return result


def _item_dict(item: ParsedItem) -> dict[str, object]:
    return {"kind": item.kind, "title": item.title, "body": item.body, "minutes": item.minutes}


def _is_itip_reply(calendar: str) -> bool:
    unfolded = re.sub(r"\r?\n[ \t]", "", calendar)
    return bool(re.search(r"^METHOD\s*:\s*(?:REPLY|COUNTER)\s*$", unfolded, re.MULTILINE | _I))


def _sender_names(name: str, address: str) -> list[str]:
    """Forms of the sender's name that may end their message as a signature."""
    names = [name] if name and "@" not in name else []
    local = address.split("@")[0]
    if re.fullmatch(r"[A-Za-z]{2,}[._][A-Za-z]{2,}", local):
        names.append(re.sub(r"[._]", " ", local))
    return names
