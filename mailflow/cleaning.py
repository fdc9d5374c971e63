"""A reply's text -> the member's own words. Pure functions over text.

Removes what the member did not write for us: quoted text (``>`` lines and their
attribution, keeping interleaved answers), the original message below Outlook and
forward headers (and finds text written under an unquoted original), signatures
(``-- ``, "Sent from my iPhone" and app taglines, a sign-off with the name and contact
lines under it, the sender's name or a short form of it alone), gateway banners at the
top and legal footers at the bottom, in English and the other languages members write.
A line of the reply syntax (see `syntax`) is never taken for a signature.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache

from mailflow.mime import IMAGE_PLACEHOLDER
from mailflow.syntax import bounded, marker, short, withdrawal

_I = re.IGNORECASE
_QUOTE = re.compile(r"^\s*>(\s|>|$)")  # ">50% of pupils" is not a quote
_ORIGINAL = re.compile(
    r"^\s*+[*_]{0,2}-{2,}+\s*+(original message|ursprüngliche nachricht|original-nachricht|"
    r"message d'origine|mensaje original|oorspronkelijk bericht|messaggio originale|"
    r"neges wreiddiol|mensagem original|oryginalna wiadomo[śs][ćc]|wiadomo[śs][ćc] oryginalna|"
    r"originalnachricht|oorspronkelijke bericht|ursprungligt meddelande|original meddelelse)"
    r"\s*+-{2,}+[*_]{0,2}\s*+$",
    _I,
)
_FORWARD = re.compile(
    r"^\s*+[*_]{0,2}(-{2,}+\s*+(forwarded message|weitergeleitete nachricht|"
    r"message transf[ée]r[ée]|mensaje reenviado|doorgestuurd bericht|messaggio inoltrato|"
    r"neges wedi'i anfon ymlaen|"
    r"mensagem encaminhada|wiadomo[śs][ćc] przekazana dalej|przekazana wiadomo[śs][ćc]|"
    r"videresendt melding|vidarebefordrat meddelande)\s*+-*+|begin forwarded message\s*:|"
    r"d[ée]but du message r[ée]exp[ée]di[ée]\s*:|anfang der weitergeleiteten nachricht\s*:|"
    r"inicio del mensaje reenviado\s*:|begin doorgestuurd bericht\s*:|"
    r"inizio messaggio inoltrato\s*:)[*_]{0,2}\s*+$",
    _I,
)
_UNDERSCORES = re.compile(r"^\s*+_{8,}+\s*+$")
# Zoho's "---- On <date> <name> wrote ----". Possessive dash runs, and an inner text
# that ends in neither a dash nor a space, so that no run of dashes is tried at every
# split (8,000 dashes took minutes).
_DASHED_ATTRIB = re.compile(r"^\s*+-{2,}+\s*+(?P<inner>\S.{7,299}?[^\s-])\s*+-{2,}+\s*+$")
# start of the original when header lines ("Od: ...", "Data: ...") follow it.
_DASHED = re.compile(r"^\s*+-{2,}+\s*+[^\W\d_][^-]{1,48}?\s*+-{2,}+\s*+$")
_HEADERISH = re.compile(r"^\s*\*?[^\W\d_][\w'’.-]*(?:\s[\w'’.-]+)?\*?\s*:\*?\s*\S")
_HEADER_FROM = re.compile(
    r"^\s*\*?(from|de|von|van|da|oddi wrth|fra|från|od|lähettäjä)\s*:\*?\s*\S", _I
)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(sent|date|to|cc|subject|envoy[ée]|à|objet|gesendet|datum|an|betreff|"
    r"enviado|fecha|para|asunto|anfonwyd|dyddiad|at|pwnc|verzonden|aan|onderwerp|"
    r"inviato|data|a|oggetto|reply-to|enviada|assunto|skickat|till|ämne|sendt|til|emne|"
    r"wysłano|do|temat)\s*:",
    _I,
)
_ATTRIB_START = re.compile(r"^\s*(on|le|am|el|ar|op|il|em|den|w dniu|[îi]n|在|في)\b", _I)
_ATTRIB_END = re.compile(
    r"(wrote|a [ée]crit|schrieb|escribi[óo]|ysgrifennodd|schreef|het volgende geschreven|"
    r"ha scritto|escreveu|skrev|napisa[łl]|scr[íi]obh|a scris|yazd[ıi]|пише|пишет|"
    r"написа[вл][аои]?|napsal|"
    r"kirjoitti|írta|έγραψε|كتب|كتبت|작성|写道|寫道)\b(?:[^:：]|(?<=\d)[:：](?=\d)){0,200}[:：]\s*$",
    _I,
)
_ATTRIB_TAIL = 300  # the longest "wrote" word, 200 characters and the colon fit in this
_SIG_SEP = re.compile(r"^--\s*$")
_DEVICE = re.compile(
    r"^\s*+(sent from my [\w' -]{2,30}|sent from (mail|outlook) for \w+|get outlook for \w+|"
    r"sent from outlook( for \w+| mobile)?|sent from yahoo mail( for \w+| on \w+)?|"
    r"sent from (my )?(samsung|huawei|galaxy|blackberry)[\w ,.-]{0,30}|"
    r"sent with proton ?mail[\w ]{0,30}|sent via [\w ]{2,20} (app|mobile)|"
    r"envoy[ée] (de|depuis) mon [\w '’-]{2,30}|von meinem [\w '’-]{2,30} gesendet|"
    r"gesendet von meinem [\w '’-]{2,30}|enviado desde mi [\w '’-]{2,30}|"
    r"anfonwyd o fy [\w '’-]{2,30}|verzonden (vanaf|met) mijn [\w '’-]{2,30}|"
    r"verstuurd vanaf mijn [\w '’-]{2,30}|inviato da(l mio)? [\w '’-]{2,30}|"
    r"wys[łl]ane z (mojego |aplikacji )?[\w '’-]{2,30}|wys[łl]ano z [\w '’-]{2,30}|"
    r"enviado (do|a partir do) (meu )?[\w '’-]{2,30}|"
    r"(get|obtenir|obtener|obter|baixe|scarica|ottieni|pobierz|download|hol dir|cael)\b"
    r"[\w -]{0,12}\boutlook\b[\w -]{0,30}\b(ios|android)[\w -]{0,20}|"
    r"outlook (f[üu]r|voor) (ios|android) (beziehen|herunterladen|downloaden)|"
    r"sent from the [\w '’-]{2,40}|"
    r"(get|download|try) [\w-]{2,20}( mail| app)? for (ios|android|iphone|ipad|mac|windows)"
    r"[\w -]{0,20}|"
    r"надіслано з [\w '’-]{2,30}|отправлено (с|из) [\w '’-]{2,30}|odesl[áa]no z [\w '’-]{2,30}|"
    r"skickat fr[åa]n min [\w '’-]{2,30}|sendt fra min [\w '’-]{2,30}|"
    r"l[äa]hetetty [\w '’-]{2,30})"
    r"\s*+[.!]?\s*+(<[^>\s]*>|\(?https?://\S+\)?)?\s*+$",
    _I,
)
_BANNER = re.compile(
    r"originated from outside|external (e-?mail|sender)|^\s*\[?external\]?\s*$|"
    r"caution:? (this|external)|do not click links",
    _I,
)
_DISCLAIMER_STRONG = re.compile(
    r"nicht der richtige adressat|irrt[üu]mlich erhalten|unbefugte weitergabe|"
    r"e-?mail and any (files|attachments)[^.]{0,40}\b(are|is) confidential|"
    r"si vous (avez re[çc]u ce|n'[êe]tes pas le destinataire)|si usted no es el destinatario|"
    r"ha recibido este (mensaje|correo) por error|niet de (beoogde )?geadresseerde|"
    r"registered (office|in england|in wales|in scotland|charity)|company (number|no\.?|"
    r"registration number)|limited by guarantee|"
    r"received this (e-?mail|message|communication) in error|consider the environment "
    r"before printing|scanned for (viruses|malware)|intended (solely |only )?for the (use "
    r"of the )?(individual|addressee|named|person|recipient)|e-?mail disclaimer",
    _I,
)
_DISCLAIMER_WEAK = re.compile(
    r"confidential|privileged|intended recipient|disclaimer|views (or opinions )?expressed|"
    r"vertraulich|confidentiel|confidencial|vertrouwelijk|riservat|poufn|gyfrinachol|"
    r"monitored|virus|legally|unauthori[sz]ed|prohibited|notify the sender",
    _I,
)
_SIGNOFF_WORDS = (
    r"thanks|thank you|thanks again|many thanks|many thanks again|thanks so much|"
    r"thanks very much|thank you very much|thank you so much|thanks in advance|"
    r"many thanks in advance|with thanks|with many thanks|cheers|best|best wishes|"
    r"very best wishes|all best|all the best|best regards|kind regards|kindest regards|"
    r"warm regards|warmest regards|warm wishes|regards|many regards|with best wishes|"
    r"with kind regards|take care|speak soon|yours|yours sincerely|yours faithfully|"
    r"sincerely|diolch|diolch yn fawr|diolch o galon|cofion|cofion cynnes|cofion gorau|"
    r"gyda diolch|gyda dymuniadau gorau|cordialement|bien cordialement|bien à vous|"
    r"merci|merci beaucoup|amicalement|bonne journée|mit freundlichen grüßen|"
    r"mit freundlichen grüssen|freundliche grüße|viele grüße|beste grüße|liebe grüße|"
    r"herzliche grüße|schöne grüße|lg|vg|mfg|gruß|grüße|danke|vielen dank|saludos|"
    r"un saludo|saludos cordiales|un cordial saludo|atentamente|un abrazo|gracias|"
    r"muchas gracias|met vriendelijke groet|met vriendelijke groeten|vriendelijke groet|"
    r"vriendelijke groeten|groetjes|groeten|hartelijke groet|bedankt|alvast bedankt|"
    r"cordiali saluti|saluti|distinti saluti|grazie|grazie mille|a presto|"
    r"un saluto|un caro saluto|cari saluti|saluti cordiali|buona giornata|grazie ancora|"
    r"grazie in anticipo|buon lavoro|"
    r"obrigad[oa]|muito obrigad[oa]|cumprimentos|melhores cumprimentos|"
    r"com os melhores cumprimentos|atenciosamente|abra[çc]os|um abra[çc]o|beijinhos|"
    r"sauda[çc][õo]es|"
    r"pozdrawiam|pozdrawiam serdecznie|serdecznie pozdrawiam|z powa[żz]aniem|"
    r"z wyrazami szacunku|dzi[ęe]kuj[ęe]|dzi[ęe]kuj[ęe] bardzo|dzi[ęe]ki|serdeczno[śs]ci|"
    r"[łl][ąa]cz[ęe] pozdrowienia|pozdrowienia|"
    r"mvg|groet|hartelijke groeten|met hartelijke groet|dank je wel|dank u wel|dank je|"
    r"dank u|"
    r"cordialmente|un saludo cordial|un fuerte abrazo|abrazos|gracias de antemano|"
    r"merci d'avance|merci par avance|salutations|sinc[èe]res salutations|"
    r"meilleures salutations|bonne soir[ée]e|belle journ[ée]e|[àa] bient[ôo]t|bises|"
    r"amiti[ée]s|tr[èe]s cordialement|"
    r"liebe gr[üu]sse|viele gr[üu]sse|beste gr[üu]sse|herzliche gr[üu]sse|besten dank|"
    r"danke sch[öo]n|danke sehr|herzlichen dank|mit besten gr[üu](ß|ss)en|gruss|"
    r"diolch yn fawr iawn|diolch eto|hwyl|hwyl fawr|pob hwyl|"
    r"med v[äa]nliga h[äa]lsningar|v[äa]nliga h[äa]lsningar|h[äa]lsningar|mvh|"
    r"med venlig hilsen|venlig hilsen|med vennlig hilsen|vennlig hilsen|hilsen|"
    r"yst[äa]v[äa]llisin terveisin|terveisin|s pozdravem|pozdrav|"
    r"go raibh (m[íi]le )?maith (agat|agaibh)|le meas|m[òo]ran taing|tapadh (leat|leibh)|"
    r"le deagh dh[ùu]rachd|le d[ùu]rachd|le dea-mh[ée]in|sl[áa]n|"
    r"beannachta[íi]|"
    r"з повагою|щиро дякую|дякую|з найкращими побажаннями|с уважением|спасибо|"
    r"всего доброго|всього найкращого|mul[țţt]umesc|mul[țţt]umesc frumos|cu stim[ăa]|"
    r"cu drag|toate cele bune|te[şs]ekk[üu]rler|te[şs]ekk[üu]r ederim|sayg[ıi]lar[ıi]mla|"
    r"iyi [çc]al[ıi][şs]malar|"
    r"شكرا|شكراً|شكرًا|مع التحية|تحياتي|תודה|תודה רבה|בברכה|감사합니다|고맙습니다|"
    r"ありがとうございます|谢谢|謝謝|此致|祝好|"
    r"hope (that|this) helps|hope (that|this) is (useful|helpful)|"
    r"thanks for (these|this|that|the minutes)|"
    r"よろしくお願いします|よろしくお願いいたします|宜しくお願いします|宜しくお願い致します"
)
# "Thanks all", "Bonne soirée à tous", "Diolch i bawb": who a sign-off is addressed to
_SIGNOFF_TO = (
    r"all|everyone|again|both|team|folks|[àa] tou(?:te)?s|[àa] tod[oa]s|an alle|i bawb|pawb"
)
_SIGNOFF = re.compile(
    rf"^\s*+(?i:{_SIGNOFF_WORDS})((?>\s*[,.!/-]*\s*)(?:(?i:and)\s*+)?(?i:{_SIGNOFF_WORDS}))?"
    rf"((?>\s*[,.!-]*\s*)([A-Z][\w.'’-]*+|x++|(?i:{_SIGNOFF_TO}))){{0,3}}"
    r"\s*+[,.!:)x。]*+\s*+$"
)
_LONE_NAME = re.compile(r"^\s*(?:[A-Z][\w'’&-]*\.?\s+){0,3}[A-Z][\w'’&-]*\s*$")
_PS = re.compile(r"^\s*p\.?\s?s\.?\b", _I)
# zero-width characters, soft hyphens and the bidi marks Arabic and Hebrew clients put
# around addresses and colons
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u2060\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    if not text.isascii():  # the invisible characters are all outside ASCII
        text = _INVISIBLE.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def clean_body(text: str, *, names: Sequence[str] = ()) -> str:
    """The member's own text: quotes, attributions, signatures and disclaimers removed.

    If nothing of the member's own is left (a reply that only quotes), the whole text
    is returned stripped, so no words are ever lost. `names` (the sender's display name
    and first name) lets a bare name at the end be recognised as a signature.
    """
    try:
        return member_text(text, names=names) or normalise(text).strip()
    except Exception:
        return str(text).strip()


def member_text(text: str, *, names: Sequence[str] = (), _depth: int = 0) -> str:
    """Like `clean_body` but "" when the member wrote nothing of their own.

    Only the first `syntax.MAX_TEXT` characters are searched; the text after them is
    kept as written, unless the original message below the reply started before it.
    """
    head, rest = bounded(normalise(text))
    lines = head.split("\n")
    kept, cut, kind = _scan(lines)
    segments = _segments(kept)
    if segments:
        segments[0] = _drop_banner(trim_blank(segments[0]))
    own = _join(_tidy_segments(segments, names))
    if not kind and rest.strip():
        return (own + rest).strip()
    if not own and kind == "forward" and _depth < 2:
        forwarded = "\n".join(_unquote(_skip_headers(lines[cut + 1 :]))) + rest
        return member_text(forwarded, names=names, _depth=_depth + 1) or forwarded.strip()
    signature = _only_signature(own, names)
    if not signature and not _points_below(own):
        return own
    below = _written_below(lines[cut:]) if kind == "original" and _depth < 2 else None
    if below is not None:
        return member_text(below + rest, names=names, _depth=_depth + 1)
    return "" if signature else own  # nothing but the sender's signature, or the pointer


def _only_signature(own: str, names: Sequence[str]) -> bool:
    """Whether the text above the original is nothing but the sender's signature."""
    lines = [ln for ln in own.split("\n") if ln.strip()]
    if not lines:
        return True
    return (_signs_as(lines[0], _name_forms(names)) and len(lines) <= 8
            and all(_signature_like(ln) and len(ln) <= 60 for ln in lines))  # fmt: skip


def _written_below(tail: list[str]) -> str | None:
    """Outlook bottom-posting or answers typed inside its unquoted copy of the original
    (which starts at `tail[0]`): text told by a marker at the start of a line ("Q: ..."),
    where our mail's own examples are indented or bulleted. From there to the end,
    without a last line that is the original's sender (a group signing its mail), or
    None."""
    sender = _sender_of(tail[:8])
    for n, line in enumerate(tail):
        if line[:1].isalpha() and marker(line):
            below = trim_blank(tail[n:])
            if sender and below and _bare(below[-1]) == sender:
                below = below[:-1]
            return "\n".join(below)
    return None


_POINTER = re.compile(
    r"\b(?:below|inline|in-line|underneath|beneath|in (?:red|blue|green|bold|colou?r|caps)|"
    r"between the lines|within your (?:e-?mail|message))\b",
    _I,
)


def _points_below(own: str) -> bool:
    """Whether the text above the original only points into it ("My answers in red
    below, Jo.", "See my comments inline"): a sentence or two, no question, no item."""
    if "?" in own:
        return False
    text = " ".join(own.split())
    return (
        len(text) <= 160
        and bool(_POINTER.search(text))
        and not any(marker(line) for line in own.split("\n"))
    )


def _sender_of(header: list[str]) -> str:
    """The display name on the From line of a header block, in the form `_bare` gives."""
    for line in header:
        if _HEADER_FROM.match(line):
            value = line.split(":", 1)[1]
            name = value.split("<", 1)[0].strip(" \t*\"'")
            return _bare(name) if "@" not in name else ""
    return ""


def _scan(lines: list[str]) -> tuple[list[str | None], int, str]:
    """Walk the lines: keep the member's, None for each dropped quote block.

    Returns (kept lines, index of the hard cut or len(lines), cut kind).
    """
    kept: list[str | None] = []
    in_sig = False
    # Every attribution read here ends in a colon within its three lines, so lines
    # without one near them (nearly all) are passed over at once.
    colons = [ln.rstrip().endswith((":", "：")) for ln in lines]
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTE.match(line):
            kept.append(None)
            in_sig, i = False, i + 1
            continue
        if line and short(line):  # a blank or a long line is never a boundary or tagline
            kind = _hard_boundary(lines, i)
            if kind:
                return kept, i, kind
            end = _attribution_end(lines, i) if any(colons[i : i + 3]) else None
            if end is not None:
                if not _quote_follows(lines, end):
                    return kept, i, "original"
                kept.append(None)
                in_sig, i = False, end
                continue
            in_sig = in_sig or bool(_SIG_SEP.match(line) or _DEVICE.match(line))
        if not in_sig and not ("[" in line and IMAGE_PLACEHOLDER.fullmatch(line.strip())):
            kept.append(line)
        i += 1
    return kept, len(lines), ""


def _hard_boundary(lines: list[str], i: int) -> str:
    """ "forward" / "original" if the original message starts at line i, else "".

    Each pattern is tried only on lines holding what every match of it holds: two
    dashes (the separators), eight underscores, or a colon (the "Begin forwarded
    message:" lines and the headers); most lines hold none and are passed over at once."""
    line = lines[i]
    dashes, colon = "--" in line, ":" in line
    if (dashes or colon) and _FORWARD.match(line):
        return "forward"
    if dashes:
        if _ORIGINAL.match(line):
            return "original"
        dashed = _DASHED_ATTRIB.match(line)
        if dashed and _starts_attrib(dashed["inner"]) and _ends_attrib(dashed["inner"] + ":"):
            return "original"
        if _DASHED.match(line):
            window = [ln for ln in lines[i + 1 : i + 7] if ln.strip()][:4]
            if len(window) >= 2 and all(_HEADERISH.match(ln) for ln in window[:2]):
                return "original"
    if "________" in line and _UNDERSCORES.match(line):
        following = [ln for ln in lines[i + 1 : i + 5] if ln.strip() and not _UNDERSCORES.match(ln)]
        return "original" if following and _HEADER_FROM.match(following[0]) else ""
    if colon and (_HEADER_FROM.match(line) or _HEADER_OTHER.match(line)):
        return "original" if _header_block(line, lines[i + 1 : i + 10]) else ""
    return ""


def _header_block(line: str, following: list[str]) -> bool:
    """Whether `line` starts the header block of a quoted or forwarded message: a From
    line (first or among the next few) and at least two other header lines, blank lines
    between them allowed (Outlook's converted HTML puts them there)."""
    window = [ln for ln in following if ln.strip()][:5]
    if _HEADER_FROM.match(line):
        return sum(1 for ln in window if _HEADER_OTHER.match(ln)) >= 2
    headers = [ln for ln in window[:4] if _HEADER_FROM.match(ln) or _HEADER_OTHER.match(ln)]
    return len(headers) >= 3 and any(_HEADER_FROM.match(ln) for ln in headers[:2])


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Index after an "On <date>, <name> wrote:" attribution starting at i, else None
    (`_scan` asks only where a line among the three from i ends in a colon)."""
    first = lines[i].strip()
    if not first or len(first) > 300:
        return None
    if (_ends_attrib(first) or _dated_addressed(first)) and (
        _quote_follows(lines, i + 1) or _starts_attrib(first)
    ):
        return i + 1
    if not _ATTRIB_START.match(first):
        return _wrapped_attribution_end(lines, i)
    joined = first
    for k in range(1, 3):
        nxt = lines[i + k].strip() if i + k < len(lines) else ""
        if not nxt or _QUOTE.match(nxt):
            return None
        joined += " " + nxt
        if _ends_attrib(joined) and _starts_attrib(joined):
            return i + k + 1
    return None


def _wrapped_attribution_end(lines: list[str], i: int) -> int | None:
    """An attribution in an order we do not know ("czw., 29 paź 2026 o 08:00 Name
    <addr>" / "napisał(a):"), wrapped over two or three lines: accepted when it has a
    digit and an address, ends with a "wrote" word and a quote follows it."""
    joined = lines[i].strip()
    for k in range(1, 3):
        nxt = lines[i + k].strip() if i + k < len(lines) else ""
        if not nxt or _QUOTE.match(nxt):
            return None
        joined += " " + nxt
        if (_ends_attrib(joined) or _dated_addressed(joined)) and (
            re.search(r"\d", joined) and "@" in joined and _quote_follows(lines, i + k + 1)
        ):
            return i + k + 1
    return None


def _dated_addressed(text: str) -> bool:
    """An attribution with no "wrote" word, in any order ("2016-03-03 17:21 GMT+01:00
    Jane <jane@example.com>:"): a date or time, an address, and a colon at the end
    (only taken when a quote follows)."""
    text = text.rstrip()
    return text.endswith((":", "：")) and "@" in text and bool(re.search(r"\d", text))


def _ends_attrib(text: str) -> bool:
    """Whether `text` ends like an attribution ("... wrote:"). Only text ending in a
    colon can match, and checking that first spares a regex search of nearly every line.
    A match is a "wrote" word and at most 200 characters before the colon, so only the
    end of the text is searched."""
    text = text.rstrip()
    return text.endswith((":", "：")) and bool(_ATTRIB_END.search(text[-_ATTRIB_TAIL:]))


def _starts_attrib(text: str) -> bool:
    return bool(_ATTRIB_START.match(text)) and bool(re.search(r"\d|@", text))


def _quote_follows(lines: list[str], start: int) -> bool:
    for line in lines[start : start + 4]:
        if line.strip():
            return bool(_QUOTE.match(line))
    return False


def _segments(kept: list[str | None]) -> list[list[str]]:
    """Split kept lines into runs separated by dropped quote blocks."""
    out: list[list[str]] = [[]]
    for line in kept:
        if line is None:
            if out[-1]:
                out.append([])
        else:
            out[-1].append(line)
    return [seg for seg in out if any(ln.strip() for ln in seg)]


MAX_TIDIED = 48  # segments tidied a message: inline answers are a dozen or two at most


def _tidy_segments(segments: list[list[str]], names: Sequence[str]) -> list[list[str]]:
    """Each segment tidied (see `_tidy_segment`), up to `MAX_TIDIED` of them: the first
    ones and the last, where sign-offs are; those between are kept as written, so that
    text cut into hundreds of segments costs no more than a long reply."""
    if len(segments) <= MAX_TIDIED:
        return [_tidy_segment(seg, names) for seg in segments]
    head, middle, last = segments[: MAX_TIDIED - 1], segments[MAX_TIDIED - 1 : -1], segments[-1]
    return [*(_tidy_segment(seg, names) for seg in head), *middle, _tidy_segment(last, names)]


def _tidy_segment(lines: list[str], names: Sequence[str]) -> list[str]:
    """Strip trailing disclaimers, sign-off blocks and a bare-name signature."""
    lines = _drop_trailing_marks(trim_blank(lines))
    for step in (_drop_disclaimers, drop_signoff, _drop_disclaimers):
        lines = trim_blank(step(lines))
    # "Best,\nRuth" over a long signature headed by her full name: the signature goes
    # first, then her name, then the sign-off that is left at the end
    return trim_blank(drop_signoff(trim_blank(_drop_name_signature(lines, names))))


_MARKS = re.compile(r"^\s*+[-_=*~#+.•·]{3,}+\s*+$")


def _drop_trailing_marks(lines: list[str]) -> list[str]:
    """Without separator lines ("------") and a lone invisible or punctuation character
    (a tracking mark) at the end: no words of the member's are in them."""
    while lines and (_MARKS.match(lines[-1]) or _lone_mark(lines[-1]) or not lines[-1].strip()):
        lines = lines[:-1]
    return lines


def _lone_mark(line: str) -> bool:
    text = line.strip()
    return len(text) == 1 and unicodedata.category(text) not in {"So", "Sk"} and not text.isalnum()


def trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) index pairs of blank-line-separated paragraphs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for idx, line in enumerate(lines):
        if not line.strip():
            if start is not None:
                spans.append((start, idx))
                start = None
        elif start is None:
            start = idx
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def _is_disclaimer(text: str) -> bool:
    if _DISCLAIMER_STRONG.search(text):
        return True
    hits = len({m.group(0).lower() for m in _DISCLAIMER_WEAK.finditer(text)})
    return hits >= 2 or (hits >= 1 and len(text) >= 200)


def _drop_disclaimers(lines: list[str]) -> list[str]:
    spans = paragraphs(lines)
    while len(spans) > 1 and _is_disclaimer(" ".join(lines[spans[-1][0] : spans[-1][1]])):
        lines = lines[: spans[-1][0]]
        spans.pop()
    return lines


def drop_signoff(lines: list[str]) -> list[str]:
    """Cut a sign-off line and the signature block below it (up to a P.S.)."""
    for k in range(max(0, len(lines) - 25), len(lines)):
        if not is_signoff(lines[k]):
            continue
        rest = lines[k + 1 :]
        ps = next((n for n, ln in enumerate(rest) if _PS.match(ln)), len(rest))
        if _signature_block(rest[:ps]):
            return lines[:k] + rest[ps:]
    return lines


def _signature_block(lines: list[str]) -> bool:
    """Whether the lines below a sign-off are a signature: short lines, or short lines
    then paragraphs of which one is a disclaimer (legal text in several languages)."""
    if all(_signature_like(ln) for ln in lines):
        return True
    spans = paragraphs(lines)
    if len(spans) < 2 or not all(_signature_like(ln) for ln in lines[: spans[0][1]]):
        return False
    return any(_is_disclaimer(" ".join(lines[a:b])) for a, b in spans[1:])


def is_signoff(line: str) -> bool:
    """A sign-off line ("Kind regards,", "Thanks! 😊", "Pozdrawiam serdecznie")."""
    return short(line) and _signoff(line)


@lru_cache(maxsize=1024)
def _signoff(line: str) -> bool:
    """Memoised: a reply's last lines are asked about several times while its text is
    tidied (each segment, then the items' details), and the pattern is long."""
    return bool(_SIGNOFF.match(without_symbols(line)))


def without_symbols(text: str) -> str:
    """`text` without emoji and other pictographs (and their joiners/selectors)."""
    if text.isascii():
        return text
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in {"So", "Sk", "Cf", "Mn"} or ch.isalnum()
    )


def _signature_like(line: str) -> bool:
    """Whether a line could be part of a signature: short, and no item, withdrawal or
    question (a question under "Thanks Sam." is the member's own words)."""
    text = line.strip()
    if marker(text) or withdrawal(text) or text.endswith("?"):
        return False
    return len(text) <= 100 or _is_disclaimer(text)


def _name_forms(names: Sequence[str]) -> frozenset[str]:
    """The forms of the sender's names a signature may take (computed once per names)."""
    return _forms_of(tuple(names))


@lru_cache(maxsize=256)
def _forms_of(names: tuple[str, ...]) -> frozenset[str]:
    forms: set[str] = set()
    for name in filter(short, names):  # a name is a short line (a long one is not a name)
        name = re.sub(r"\(.*?\)|\[.*?\]", " ", name)
        if "," in name:
            last, _, first = name.partition(",")
            name = f"{first} {last}"
        words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", name)]
        words = [w for w in words if w.lower().rstrip(".") not in {"mr", "mrs", "ms", "miss", "dr"}]
        if words:
            forms |= {" ".join(words).lower(), words[0].lower()}
    return frozenset(f for f in forms if len(f) >= 2)


def _drop_name_signature(lines: list[str], names: Sequence[str]) -> list[str]:
    """Drop trailing signature paragraphs: the sender's name (alone or heading a
    block of contact lines) or a lone line of one to four capitalised words after a
    finished sentence (a name or an organisation signing off)."""
    forms = _name_forms(names)
    while lines:
        trimmed = trim_blank(_drop_one_signature(lines, forms))
        if trimmed == lines:
            return lines
        lines = trimmed
    return lines


def _signs_as(line: str, forms: AbstractSet[str]) -> bool:
    """Whether `line` is the sender's name, a short form of their first name ("Rach"
    for Rachel, "Liv" for Olivia) or its initial ("H")."""
    bare = _bare(line)
    if bare in forms:
        return True
    first_names = [f for f in forms if " " not in f]
    if len(bare) == 1:
        return bare.isalpha() and any(f.startswith(bare) for f in first_names)
    return len(bare) >= 3 and bare.isalpha() and any(bare in f for f in first_names)


_HONORIFIC = re.compile(r"^(dr|mr|mrs|ms|miss|mx|prof|professor|rev|revd|cllr|sr)\.?\s+")


def _headed_by_name(line: str, forms: AbstractSet[str]) -> bool:
    """Whether `line` starts with the sender's full name ("Dr Ruth Okafor (she/her)",
    "Jo Bevan | Chief Executive", "Claire Dunn RN MSc")."""
    text = _HONORIFIC.sub("", _bare(line))
    return any(text == f or text.startswith(f + " ") for f in forms if " " in f)


def _drop_one_signature(lines: list[str], forms: AbstractSet[str]) -> list[str]:
    if _signs_as(lines[-1], forms) and len(lines) > 1:
        return lines[:-1]
    spans = paragraphs(lines)
    if len(spans) < 2:
        return lines
    start, end = spans[-1]
    block = lines[start:end]
    if _bare(block[0]) in forms and len(block) <= 10 and all(_signature_like(b) for b in block):
        return lines[:start]
    if (
        _headed_by_name(block[0], forms)
        and len(block) <= 12
        and not any(marker(b) or withdrawal(b) or len(b) > 250 for b in block)
    ):
        return lines[:start]  # a signature block headed by the full name, however long
    before = lines[spans[-2][1] - 1].rstrip()
    if len(block) == 1 and _LONE_NAME.match(block[0]) and before.endswith((".", "!", "?")):
        return lines[:start]
    return lines


def _bare(line: str) -> str:
    text = re.sub(r"(?<!\s)\s++x++$", "", line.strip(" -–—_*,.!").strip(), flags=_I)  # "Jo xx"
    return " ".join(text.lower().split())


def _drop_banner(lines: list[str]) -> list[str]:
    """Remove an "[EXTERNAL] This email originated from outside..." banner on top."""
    spans = paragraphs(lines)
    if len(spans) > 1:
        first = " ".join(lines[spans[0][0] : spans[0][1]])
        if _BANNER.search(first) and len(first) < 400:
            return lines[spans[1][0] :]
    return lines


def _join(segments: list[list[str]]) -> str:
    text = "\n\n".join("\n".join(seg) for seg in segments if seg)
    return (re.sub(r"\n{3,}", "\n\n", text) if "\n\n\n" in text else text).strip()


def _skip_headers(lines: list[str]) -> list[str]:
    """Drop the From:/Date:/Subject: block at the top of a forwarded message."""
    i = 0
    while i < len(lines) and (
        not lines[i].strip()
        or _HEADER_FROM.match(_unquote_line(lines[i]))
        or _HEADER_OTHER.match(_unquote_line(lines[i]))
    ):
        i += 1
    return lines[i:]


def header_line(line: str) -> bool:
    """Whether `line` is a header line of a quoted or forwarded message ("From: ...",
    "Gesendet: ...", "Objet : ..."), bold or not."""
    return short(line) and bool(_HEADER_FROM.match(line) or _HEADER_OTHER.match(line))


def _unquote_line(line: str) -> str:
    return re.sub(r"^\s*(>\s?)+", "", line)


def _unquote(lines: list[str]) -> list[str]:
    return [_unquote_line(line) for line in lines]
