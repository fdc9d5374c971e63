"""Text -> cleaned body -> items: what a member's reply asks us to record.

Pure functions over text (plus `parse_reply`, which runs `mime.parse_mail` on bytes).
Cleaning removes what the member did not write for us: quoted text (``>`` lines and
their attribution, keeping interleaved answers), the original message below Outlook /
forward headers, signatures (``-- ``, "Sent from my iPhone", a sign-off with the
name and contact lines under it, the sender's name alone), gateway banners at the top
and confidentiality disclaimers at the bottom.

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
  meeting"); or a subject starting or ending with "Apologies". "Apologies for the late
  reply" is not an apology for absence. The reason is the text that is not an item.
* ``withdraw N`` lines are commands; with no markers, the rest of such a reply is
  context, not a new item.
* A message carrying an iTIP REPLY (a calendar RSVP) has no items: its text is a
  comment on the RSVP. parse_reply reports it with ``"rsvp": true``.
* Resources: with markers, one extra resource item titled by the filenames (body
  empty); without, the text is the resource item. With no text at all the title is
  the subject when it is a new subject (not a reply), else the first filename.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from mailflow.commands import VoteCommand, member_commands
from mailflow.mime import ParsedMail, parse_mail

__all__ = [
    "ParsedItem",
    "ParsedReply",
    "clean_body",
    "extract_items",
    "is_rsvp",
    "member_text",
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
    priority votes, volunteers to answer), which are never items themselves."""

    body: str
    items: tuple[ParsedItem, ...]
    apologies: bool
    withdraw: tuple[int, ...]
    votes: tuple[VoteCommand, ...] = ()
    volunteers: tuple[int, ...] = ()


# --------------------------------------------------------------------------- patterns

_I = re.IGNORECASE
_QUOTE = re.compile(r"^\s*>(\s|>|$)")  # ">50% of pupils" is not a quote
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|original-nachricht|"
    r"message d'origine|mensaje original|oorspronkelijk bericht|messaggio originale|"
    r"neges wreiddiol|mensagem original|oryginalna wiadomo[śs][ćc]|wiadomo[śs][ćc] oryginalna|"
    r"originalnachricht|oorspronkelijke bericht|ursprungligt meddelande|original meddelelse)"
    r"\s*-{2,}\s*$",
    _I,
)
_FORWARD = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|"
    r"mensaje reenviado|doorgestuurd bericht|messaggio inoltrato|neges wedi'i anfon ymlaen|"
    r"mensagem encaminhada|wiadomo[śs][ćc] przekazana dalej|przekazana wiadomo[śs][ćc]|"
    r"videresendt melding|vidarebefordrat meddelande)\s*-*|begin forwarded message\s*:|"
    r"d[ée]but du message r[ée]exp[ée]di[ée]\s*:|anfang der weitergeleiteten nachricht\s*:|"
    r"inicio del mensaje reenviado\s*:|begin doorgestuurd bericht\s*:|"
    r"inizio messaggio inoltrato\s*:)\s*$",
    _I,
)
_UNDERSCORES = re.compile(r"^\s*_{8,}\s*$")
_DASHED_ATTRIB = re.compile(r"^\s*-{2,}\s*(?P<inner>\S.{8,300}?)\s*-{2,}\s*$")  # Zoho
# "-------- Original message --------" in a language we do not list; only taken as the
# start of the original when header lines ("Od: ...", "Data: ...") follow it.
_DASHED = re.compile(r"^\s*-{2,}\s*[^\W\d_][^-]{1,48}?\s*-{2,}\s*$")
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
    r"kirjoitti|írta|έγραψε|كتب|كتبت|작성|写道|寫道)\b[^:：]{0,200}[:：]\s*$",
    _I,
)
_SIG_SEP = re.compile(r"^--\s*$")
_DEVICE = re.compile(
    r"^\s*(sent from my [\w' -]{2,30}|sent from (mail|outlook) for \w+|get outlook for \w+|"
    r"sent from outlook( for \w+)?|sent from yahoo mail( for \w+| on \w+)?|"
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
    r"\s*[.!]?\s*(<[^>\s]*>|\(?https?://\S+\)?)?\s*$",
    _I,
)
_BANNER = re.compile(
    r"originated from outside|external (e-?mail|sender)|^\s*\[?external\]?\s*$|"
    r"caution:? (this|external)|do not click links",
    _I,
)
_DISCLAIMER_STRONG = re.compile(
    r"nicht der richtige adressat|irrt[üu]mlich erhalten|unbefugte weitergabe|"
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
    r"vertraulich|confidentiel|confidencial|vertrouwelijk|riservat|poufn|"
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
    r"よろしくお願いします|よろしくお願いいたします|宜しくお願いします|宜しくお願い致します"
)
_SIGNOFF = re.compile(
    rf"^\s*(?i:{_SIGNOFF_WORDS})(\s*[,.!/-]*\s*(?i:and)?\s*(?i:{_SIGNOFF_WORDS}))?"
    r"(\s*[,.!-]*\s*([A-Z][\w.'’-]*|x+|(?i:all|everyone|again|both|team|folks))){0,3}"
    r"\s*[,.!:)x。]*\s*$"
)
_LONE_NAME = re.compile(r"^\s*(?:[A-Z][\w'’&-]*\.?\s+){0,3}[A-Z][\w'’&-]*\s*$")
_PS = re.compile(r"^\s*p\.?\s?s\.?\b", _I)
_PS_PREFIX = r"(?:p\.?\s?s\.?\s*[:,-]?\s*)?"  # "P.S. Q: ..."
_MARKER = re.compile(
    rf"^\s*{_PS_PREFIX}(?:[-*•·–]\s*|\d{{1,2}}[.)]\s+|\(\d{{1,2}}\)\s+)?(?:\*\*)?"
    r"(?P<kind>q(?:uestion)?|item|agenda(?:\s+item)?|cwestiwn|eitem)\s*(?:\d{1,2}\s*)?[:：]"
    r"(?:\*\*)?"
    r"\s*(?P<rest>.*)$",
    _I,
)
_MARKER_DASH = re.compile(  # "Q - ..." / "Item – ...": a dash where the colon should be
    r"^\s*(?:[-*•·–]\s*|\d{1,2}[.)]\s+)?(?P<kind>q|question|item|agenda(?:\s+item)?|cwestiwn|"
    r"eitem)\s*"
    r"(?:\d{1,2})?\s+[-–—]\s+(?P<rest>\S.*)$",
    _I,
)
_MARKER_Q = re.compile(  # "Q. ..." / "Q) ...": a capital Q and a full stop or bracket
    r"^\s*(?:[-*•·–]\s*|\d{1,2}[.)]\s+)?(?P<kind>Q)\d{0,2}[.)]\s+(?P<rest>\S.*)$"
)
_HEADING = re.compile(  # "Questions:" / "Items for the meeting:" over a list of entries
    r"^\s*(?:\*\*)?(?:[\w'’]+\s+){0,4}(?P<kind>questions|items|agenda items|topics)"
    r"(?:\s+[\w'’]+){0,4}\s*:(?:\*\*)?\s*$",
    _I,
)
_LIST_ENTRY = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•·–])\s+(?P<text>\S.*)$")
_PLACEHOLDER = re.compile(r"^\s*\[(cid|image):[^\]]*\]\s*$", _I)  # inline images in plain text
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
_PLEASE = r"(?:\s*(?:please|pls|max(?:imum)?|tops|or so|ish|at most|if poss(?:ible)?))?"
_AMOUNT = (  # "10m", "10-15 mins" (a range asks for the most), "about 20 minutes please"
    rf"{_ABOUT}(?P<n>{_NUMBER})(?:\s*(?:-|–|to)\s*(?P<upto>{_NUMBER}))?\s*(?P<unit>{_UNIT})"
    rf"\.?{_PLEASE}"
)
_WORDS = (  # "half an hour", "tua hanner awr"
    r"(?:about |around |approx\.? |tua )?(?P<words>half an hour|an hour|a quarter of an "
    rf"hour|quarter of an hour|one hour|hanner awr|awr){_PLEASE}"
)
_TIME = re.compile(rf"\s*[\[(]\s*{_AMOUNT}\s*[!.]?\s*[\])]\s*[.!]?\s*$", _I)  # "[10m]"
_TIME_WORDS = re.compile(rf"\s*[\[(]\s*{_WORDS}\s*[\])]\s*[.!]?\s*$", _I)  # "(half an hour)"
_TIME_DASH = re.compile(  # "Budget - 10 mins", "Budget, about 10 mins please": a unit in words
    rf"(?:\s+[-–—]|\s*,)\s*{_ABOUT}(?P<n>{_NUMBER})\s*(?P<unit>mins?|minutes?|hrs?|hours?|munud)"
    rf"\.?{_PLEASE}\s*[.!]?\s*$",
    _I,
)
_TIME_CLOCK = re.compile(  # "[0:15]", "(1:00)": hours and minutes
    r"\s*[\[(]\s*(?P<hours>\d):(?P<mins>[0-5]\d)\s*[\])]\s*[.!]?\s*$"
)
_TIME_FIRST = re.compile(rf"^\s*[\[(]\s*(?:{_AMOUNT}|{_WORDS})\s*[\])]\s*", _I)  # "[10m] Title"
_TIME_LINE = re.compile(  # a line of its own under the title: "15 mins please"
    rf"^\s*[\[(]?\s*(?:{_AMOUNT}|{_WORDS})\s*[\])]?\s*[.!]?\s*$", _I
)
_COUNT = r"\d{1,3}|five|ten|fifteen|twenty|twenty-five|thirty|forty|forty-five|sixty"
_ASKED = re.compile(  # "Could I have ten minutes to ...", "Yes please, 10 mins for the budget"
    r"\b(?:(?:could|can|may) (?:i|we) (?:have|get|take|use)|i'?d like|we'?d like|"
    r"(?:i|we) would like|(?:i|we) need|please allow|ask(?:ing)? for)\s+(?:about\s+|around\s+|"
    rf"roughly\s+|a quick\s+|a good\s+)?(?:(?P<count>{_COUNT})\s*(?:mins?|minutes)\b|"
    r"(?P<words>(?:a )?quarter of an hour|half an hour|an hour))|"
    rf"^\s*(?:yes,?\s*(?:please,?\s*)?)?(?P<first>{_COUNT})\s*(?:mins?|minutes)\s+(?:for|on|please)\b",
    _I,
)
_BARE_MINUTES = re.compile(r"\s*\[\s*(?P<n>\d{1,2})\s*\]\s*$")  # "[10]": the unit forgotten
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
_WITHDRAW = re.compile(
    r"^\s*withdraw\s+(?:items?\s+)?(#?\s*\d{1,6}(?:\s*(?:,|&|and)?\s*#?\s*\d{1,6})*)"
    r"\s*[.!]?(?:\s+[-–—:]\s*\S.*)?\s*$",  # "withdraw 3 - covered already"
    _I,
)
_WITHDRAW_ASKED = re.compile(  # "Can you withdraw 7 please - we've sorted it."
    r"^\s*(?:(?:can|could|would) you(?: please)?|please|i'?d like to|i would like to)\s+"
    r"(?:withdraw|scrap|remove|drop|delete|take off|cancel)\s+(?:my\s+)?(?:items?\s+|questions?\s+|"
    r"number\s+|no\.?\s*)?(#?\s*\d{1,6})\b(?:\s*(?:please|pls))?\s*(?:[.!]|[,\s][-–—:]?\s*\S.*)?\s*$",
    _I,
)
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
    r"^\s*(i )?(hope|trust) (you|this|all|everyone|that)\b[^?]{0,70}?[.!]*\s*$|"
    r"^\s*(thanks|thank you) (for|so much for) (the|your|this|sending|organising|"
    r"organizing|the reminder)\b[^?]{0,60}?[.!]*\s*$|"
    r"^\s*(apologies|sorry|my apologies) (for|about) (the |my )?(late|slow|delayed|belated)"
    r"( reply| response)?[^?]{0,40}?[.!]*\s*$|"
    r"^\s*(apologies|sorry) (for|about) (the|this) delay[^?]{0,40}?[.!]*\s*$",
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
    r"see you|look(ing)? forward|speak soon|have a (good|great|lovely)|[àa] (bient[ôo]t|"
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
    r"\bsends? (her|his|their) apologies",
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
_APOLOGY_ALONE = re.compile(
    r"^\s*(ymddiheuriadau|excuses|entschuldigung|disculpas|scuse|desculpas|przeprosiny|"
    r"afmelding|leithscéal|вибачте)\s*[.!]?\s*$",
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
    r"(?:apologies|apols|sends? (?:my |her |his |their )?apologies)\b(?P<tail>.*)$",
    _I,
)
_APOLOGY_PHRASE = re.compile(
    r"^\s*(for (my |our )?absence|from (me|us)|for (the |this |next |our |thursday'?s |"
    r"the next |this term'?s |the autumn |the spring |the summer )?(meeting|session|"
    r"thursday|monday|tuesday|wednesday|friday|\d{1,2}(st|nd|rd|th)?\b[\w ]{0,12}))\b",
    _I,
)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|r|rif|ynt|fw|fwd|tr|wg|ymateb)\s*:\s*)+", _I)


# --------------------------------------------------------------------------- cleaning


# zero-width characters, soft hyphens and the bidi marks Arabic and Hebrew clients put
# around addresses and colons
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u2060\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = re.sub(
        "[\ufeff\u200b\u200c\u2060\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]", "", text
    )
    return "\n".join(line.rstrip() for line in text.split("\n"))


def clean_body(text: str, *, names: Sequence[str] = ()) -> str:
    """The member's own text: quotes, attributions, signatures and disclaimers removed.

    If nothing of the member's own is left (a reply that only quotes), the whole text
    is returned stripped, so no words are ever lost. `names` (the sender's display name
    and first name) lets a bare name at the end be recognised as a signature.
    """
    try:
        return member_text(text, names=names) or _normalise(text).strip()
    except Exception:
        return str(text).strip()


def member_text(text: str, *, names: Sequence[str] = (), _depth: int = 0) -> str:
    """Like `clean_body` but "" when the member wrote nothing of their own."""
    lines = _normalise(text).split("\n")
    kept, cut, kind = _scan(lines)
    segments = _segments(kept)
    if segments:
        segments[0] = _drop_banner(_trim_blank(segments[0]))
    own = _join([_tidy_segment(seg, names) for seg in segments])
    if not own and kind == "forward" and _depth < 2:
        forwarded = "\n".join(_unquote(_skip_headers(lines[cut + 1 :])))
        return member_text(forwarded, names=names, _depth=_depth + 1) or forwarded.strip()
    if not _only_signature(own, names):
        return own
    below = _written_below(lines[cut + 1 :]) if kind == "original" and _depth < 2 else None
    if below is not None:
        return member_text(below, names=names, _depth=_depth + 1)
    return ""  # nothing but the sender's signature


def _only_signature(own: str, names: Sequence[str]) -> bool:
    """Whether the text above the original is nothing but the sender's signature."""
    lines = [ln for ln in own.split("\n") if ln.strip()]
    if not lines:
        return True
    return (_signs_as(lines[0], _name_forms(names)) and len(lines) <= 8
            and all(_signature_like(ln) and len(ln) <= 60 for ln in lines))  # fmt: skip


def _written_below(tail: list[str]) -> str | None:
    """Outlook bottom-posting: text written under an unquoted copy of the original,
    told by a marker at the start of a line ("Q: ..."), where our mail's own examples
    are indented or bulleted. From there to the end, or None."""
    for n, line in enumerate(tail):
        if line[:1].isalpha() and _marker(line):
            return "\n".join(tail[n:])
    return None


def _scan(lines: list[str]) -> tuple[list[str | None], int, str]:
    """Walk the lines: keep the member's, None for each dropped quote block.

    Returns (kept lines, index of the hard cut or len(lines), cut kind).
    """
    kept: list[str | None] = []
    in_sig = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTE.match(line):
            kept.append(None)
            in_sig, i = False, i + 1
            continue
        kind = _hard_boundary(lines, i)
        if kind:
            return kept, i, kind
        end = _attribution_end(lines, i)
        if end is not None:
            if not _quote_follows(lines, end):
                return kept, i, "original"
            kept.append(None)
            in_sig, i = False, end
            continue
        if _SIG_SEP.match(line) or _DEVICE.match(line):
            in_sig = True
        elif not in_sig and not _PLACEHOLDER.match(line):
            kept.append(line)
        i += 1
    return kept, len(lines), ""


def _hard_boundary(lines: list[str], i: int) -> str:
    """ "forward" / "original" if the original message starts at line i, else ""."""
    line = lines[i]
    if _FORWARD.match(line):
        return "forward"
    if _ORIGINAL.match(line):
        return "original"
    dashed = _DASHED_ATTRIB.match(line)
    if dashed and _starts_attrib(dashed["inner"]) and _ends_attrib(dashed["inner"] + ":"):
        return "original"
    if _DASHED.match(line):
        window = [ln for ln in lines[i + 1 : i + 7] if ln.strip()][:4]
        if len(window) >= 2 and all(_HEADERISH.match(ln) for ln in window[:2]):
            return "original"
    if _UNDERSCORES.match(line):
        following = [ln for ln in lines[i + 1 : i + 4] if ln.strip()]
        return "original" if following and _HEADER_FROM.match(following[0]) else ""
    if _HEADER_FROM.match(line):
        window = lines[i + 1 : i + 6]
        if sum(1 for ln in window if _HEADER_OTHER.match(ln)) >= 2:
            return "original"
    return ""


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Index after an "On <date>, <name> wrote:" attribution starting at i, else None."""
    first = lines[i].strip()
    if not first or len(first) > 300:
        return None
    if _ends_attrib(first) and (_quote_follows(lines, i + 1) or _starts_attrib(first)):
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
        if (
            _ends_attrib(joined)
            and re.search(r"\d", joined)
            and "@" in joined
            and _quote_follows(lines, i + k + 1)
        ):
            return i + k + 1
    return None


def _ends_attrib(text: str) -> bool:
    """Whether `text` ends like an attribution ("... wrote:"). Only text ending in a
    colon can match, and checking that first spares a regex search of nearly every line."""
    return text.rstrip().endswith((":", "：")) and bool(_ATTRIB_END.search(text))


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


def _tidy_segment(lines: list[str], names: Sequence[str]) -> list[str]:
    """Strip trailing disclaimers, sign-off blocks and a bare-name signature."""
    lines = _trim_blank(lines)
    for step in (_drop_disclaimers, _drop_signoff, _drop_disclaimers):
        lines = _trim_blank(step(lines))
    return _trim_blank(_drop_name_signature(lines, names))


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) index pairs of blank-line-separated paragraphs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for idx, line in enumerate([*lines, ""]):
        if line.strip() and start is None:
            start = idx
        elif not line.strip() and start is not None:
            spans.append((start, idx))
            start = None
    return spans


def _is_disclaimer(text: str) -> bool:
    if _DISCLAIMER_STRONG.search(text):
        return True
    hits = len({m.group(0).lower() for m in _DISCLAIMER_WEAK.finditer(text)})
    return hits >= 2 or (hits >= 1 and len(text) >= 200)


def _drop_disclaimers(lines: list[str]) -> list[str]:
    spans = _paragraphs(lines)
    while len(spans) > 1 and _is_disclaimer(" ".join(lines[spans[-1][0] : spans[-1][1]])):
        lines = lines[: spans[-1][0]]
        spans.pop()
    return lines


def _drop_signoff(lines: list[str]) -> list[str]:
    """Cut a sign-off line and the signature block below it (up to a P.S.)."""
    for k in range(max(0, len(lines) - 25), len(lines)):
        if not _is_signoff(lines[k]):
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
    spans = _paragraphs(lines)
    if len(spans) < 2 or not all(_signature_like(ln) for ln in lines[: spans[0][1]]):
        return False
    return any(_is_disclaimer(" ".join(lines[a:b])) for a, b in spans[1:])


def _without_trailing_signoff(title: str) -> str:
    """A title without a sign-off written after its last sentence ("...? Cheers, Dave")."""
    for end in re.finditer(r"[?.!]\s+", title):
        if _is_signoff(title[end.end() :]):
            return title[: end.end()].rstrip()
    return title


def _is_signoff(line: str) -> bool:
    """A sign-off line ("Kind regards,", "Thanks! 😊", "Pozdrawiam serdecznie")."""
    return bool(_SIGNOFF.match(_without_symbols(line)))


def _without_symbols(text: str) -> str:
    """`text` without emoji and other pictographs (and their joiners/selectors)."""
    if text.isascii():
        return text
    return "".join(
        ch
        for ch in text
        if unicodedata.category(ch) not in {"So", "Sk", "Cf", "Mn"} or ch.isalnum()
    )


def _signature_like(line: str) -> bool:
    text = line.strip()
    if _marker(text) or _WITHDRAW.match(text):
        return False
    return len(text) <= 100 or _is_disclaimer(text)


def _name_forms(names: Sequence[str]) -> set[str]:
    forms: set[str] = set()
    for name in names:
        name = re.sub(r"\(.*?\)|\[.*?\]", " ", name)
        if "," in name:
            last, _, first = name.partition(",")
            name = f"{first} {last}"
        words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", name)]
        words = [w for w in words if w.lower().rstrip(".") not in {"mr", "mrs", "ms", "miss", "dr"}]
        if words:
            forms |= {" ".join(words).lower(), words[0].lower()}
    return {f for f in forms if len(f) >= 2}


def _drop_name_signature(lines: list[str], names: Sequence[str]) -> list[str]:
    """Drop trailing signature paragraphs: the sender's name (alone or heading a
    block of contact lines) or a lone line of one to four capitalised words after a
    finished sentence (a name or an organisation signing off)."""
    forms = _name_forms(names)
    while lines:
        trimmed = _trim_blank(_drop_one_signature(lines, forms))
        if trimmed == lines:
            return lines
        lines = trimmed
    return lines


def _signs_as(line: str, forms: set[str]) -> bool:
    """Whether `line` is the sender's name, or a short form of their first name
    ("Rach" for Rachel, "Liv" for Olivia)."""
    bare = _bare(line)
    if bare in forms:
        return True
    return len(bare) >= 3 and bare.isalpha() and any(bare in f for f in forms if " " not in f)


def _drop_one_signature(lines: list[str], forms: set[str]) -> list[str]:
    if _signs_as(lines[-1], forms) and len(lines) > 1:
        return lines[:-1]
    spans = _paragraphs(lines)
    if len(spans) < 2:
        return lines
    start, end = spans[-1]
    block = lines[start:end]
    if _bare(block[0]) in forms and len(block) <= 10 and all(_signature_like(b) for b in block):
        return lines[:start]
    before = lines[spans[-2][1] - 1].rstrip()
    if len(block) == 1 and _LONE_NAME.match(block[0]) and before.endswith((".", "!", "?")):
        return lines[:start]
    return lines


def _bare(line: str) -> str:
    text = re.sub(r"\s+x+$", "", line.strip(" -–—_*,.!").strip(), flags=_I)
    return " ".join(text.lower().split())


def _drop_banner(lines: list[str]) -> list[str]:
    """Remove an "[EXTERNAL] This email originated from outside..." banner on top."""
    spans = _paragraphs(lines)
    if len(spans) > 1:
        first = " ".join(lines[spans[0][0] : spans[0][1]])
        if _BANNER.search(first) and len(first) < 400:
            return lines[spans[1][0] :]
    return lines


def _join(segments: list[list[str]]) -> str:
    text = "\n\n".join("\n".join(seg) for seg in segments if seg)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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


def _unquote_line(line: str) -> str:
    return re.sub(r"^\s*(>\s?)+", "", line)


def _unquote(lines: list[str]) -> list[str]:
    return [_unquote_line(line) for line in lines]


# --------------------------------------------------------------------------- items


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
    text = _normalise(body).strip()
    # Cleaning is idempotent on clean text, and makes a quote-only fallback body
    # (what clean_body returns when the member wrote nothing) yield no items.
    own = member_text(text)
    withdraw, lines = _take_withdrawals(own.split("\n"))
    commands = member_commands("\n".join(lines))
    if commands.found:
        lines = commands.rest.split("\n")
    pre, blocks = _split_markers(_marker_after_greeting(_expand_headings(lines)))
    pre = _trim_blank(pre)
    if blocks and pre and pre[-1].rstrip().endswith(":"):
        pre = pre[:-1]  # "Two for the list though:" leads in to the markers
    pre = _opening(pre)
    reason, pre = _apology(pre, subject)
    if reason and has_attachments and not blocks:
        reason, pre = _describes_attachment(reason)
    items: list[ParsedItem] = []
    if reason is not None:
        items.append(ParsedItem("apology", "Apologies", reason, None))
    items += [_marker_item(block) for block in blocks]
    names = [n for n in attachment_names if n] or ["Attachment"]
    if blocks or ((withdraw or commands.found) and not has_attachments):  # the rest is comment
        if has_attachments:
            items.append(ParsedItem("resource", ", ".join(names), "", None))
    elif pre and not _pleasantry(pre):
        items.append(_free_item(pre, "resource" if has_attachments else ""))
    elif has_attachments:
        items.append(ParsedItem("resource", _resource_title(subject, names), "", None))
    if not items and not withdraw and not commands.found:
        items = _subject_items(subject, blank=not "".join(lines).strip())
    return ParsedReply(text, tuple(items), reason is not None, tuple(withdraw),
                       commands.votes, commands.volunteers)  # fmt: skip


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
    numbers: list[int] = []
    rest: list[str] = []
    for line in lines:
        match = _WITHDRAW.match(line) or _WITHDRAW_ASKED.match(line)
        if match:
            numbers += [int(n) for n in re.findall(r"\d+", match.group(1))]
        else:
            rest.append(line)
    return numbers, rest


def _expand_headings(lines: list[str]) -> list[str]:
    """ "Questions:" over a list: each entry becomes a ``Q:`` line ("Items:" an ``Item:``
    line). Lines under an entry stay its details; the list ends at a paragraph that is
    not an entry. A heading with no list under it is left as it is."""
    out: list[str] = []
    marker = ""
    for n, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading:
            following = next((ln for ln in lines[n + 1 :] if ln.strip()), "")
            if _LIST_ENTRY.match(following) and not _marker(following):
                marker = "Q" if heading["kind"].lower().startswith("q") else "Item"
                continue
        entry = _LIST_ENTRY.match(line)
        if marker and entry and not _marker(line):
            out.append(f"{marker}: {entry['text']}")
            continue
        if marker and line.strip() and out and not out[-1].strip():
            marker = ""  # a new paragraph that is not an entry ends the list
        out.append(line)
    return out


def _marker_after_greeting(lines: list[str]) -> list[str]:
    """ "Hi Sam, Q: ..." / "Hi Sam! Item: ...": the greeting goes, the marker stays."""
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        prefix = _GREETING_PREFIX.match(_plain(line))
        if prefix and _marker(line[prefix.start("rest") :]):
            return [*lines[:n], line[prefix.start("rest") :], *lines[n + 1 :]]
        return lines
    return lines


def _split_markers(lines: list[str]) -> tuple[list[str], list[_Block]]:
    pre: list[str] = []
    blocks: list[_Block] = []
    for line in lines:
        match = _marker(line)
        if match:
            kind = "question" if match["kind"].lower().startswith(("q", "cw")) else "agenda"
            blocks.append(_Block(kind, match.group("rest").strip(), [], len(line.strip())))
        elif blocks:
            blocks[-1].lines.append(line)
        else:
            pre.append(line)
    return pre, blocks


def _marker(line: str) -> re.Match[str] | None:
    """The marker at the start of `line` ("Q:", "Item -", "Q.", ...), if any."""
    return _MARKER.match(line) or _MARKER_DASH.match(line) or _MARKER_Q.match(line)


def _marker_item(block: _Block) -> ParsedItem:
    lines = _trim_blank(block.lines)
    title, minutes = _time_request(block.title)  # "Item: [10m]" with the title below
    width = block.width
    if not title and lines:
        title, width, lines = lines[0].strip(), len(lines[0].strip()), lines[1:]
    title, lines = _unwrap_title(title, width, lines)
    title, later = _time_request(_without_trailing_signoff(title))
    minutes = later or minutes
    below = _TIME_LINE.match(lines[0]) if lines and minutes is None else None
    if below:  # "Item: Moderation" then "15 mins please" on a line of its own
        minutes, lines = _minutes(below), lines[1:]
    if minutes is None:
        title, minutes = _asked_minutes(title, block.kind)
    return ParsedItem(block.kind, title, _tidy_body(lines), minutes)


def _asked_minutes(title: str, kind: str) -> tuple[str, int | None]:
    """Time asked for in other ways: "[10]" (the unit forgotten) at the end of an agenda
    item, or in the sentence ("Could I have ten minutes to show ...", "a quarter of an
    hour"), which stays as it is."""
    bare = _BARE_MINUTES.search(title) if kind == "agenda" else None
    if bare and 1 <= int(bare["n"]) <= 90:
        return title[: bare.start()].strip(), int(bare["n"])
    asked = _ASKED.search(title)
    if asked is None:
        return title, None
    if asked["words"]:
        return title, _WORD_MINUTES[asked["words"].lower()]
    count = (asked["count"] or asked["first"]).lower()
    return title, (_COUNT_WORDS[count] if count in _COUNT_WORDS else int(count)) or None


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
    if not text or not text[0].islower() or _marker(following):
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
    lines = _trim_blank(_drop_signoff(_trim_blank([ln.strip() for ln in lines])))
    text = "\n".join(_BULLET_MARK.sub("- ", ln) for ln in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _opening(lines: list[str]) -> list[str]:
    """Drop leading greetings and "hope you are well" lines; unwrap "Hi Sam, <text>"."""
    lines = _trim_blank(lines)
    while lines:
        first = lines[0].strip()
        probe = _plain(first)
        if (
            _GREETING.match(probe)
            or (_HOPE.match(probe) and not _WANTS.search(probe))
            or (
                (_NAME_COMMA.match(probe) or _SALUTATION.match(probe)) and not _APOLOGY.match(probe)
            )
        ):
            lines = _trim_blank(lines[1:])
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


def _apology(lines: list[str], subject: str) -> tuple[str | None, list[str]]:
    """(reason, remaining lines) if the reply sends apologies for absence."""
    if lines:
        first = lines[0].strip()
        match = _APOLOGY.match(_plain(first))
        if match:
            rest = _apology_rest(first[match.start("tail") :])
            if rest is not None:
                return _tidy_body([rest, *lines[1:]]), []
        if _APOLOGY_ALONE.match(first):
            return _tidy_body(lines[1:]), []
        plain = _plain(first)
        if (
            _CANT_ATTEND.search(plain)
            or _CANT_ATTEND_OTHER.search(first)
            or (_CANT_MAKE_IT.match(plain) and not _NOT_ABSENCE.search(plain))
        ):
            return _tidy_body(lines), []
    if _subject_apology(subject):
        return _tidy_body(lines), []
    return None, lines


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
    phrase = _APOLOGY_PHRASE.match(_plain(tail))
    if phrase:
        tail = tail[phrase.end() :]
    elif tail.strip() and not re.match(r"^\s*[,.!:;–—-]", tail):
        return None
    rest = re.sub(r"^[\s,.!:;–—-]+", "", tail)
    if rest and not phrase and _NOT_ABSENCE.search(rest) and not _ABSENCE.search(_plain(rest)):
        return None
    return rest


def _subject_apology(subject: str) -> bool:
    text = _REPLY_PREFIX.sub("", subject).strip().lower()
    if re.search(r"apologies for (the |my )?(late|delay|slow)", text):
        return False
    return bool(re.match(r"^apologies\b", text) or re.search(r"[-–—:(]\s*apologies\W*$", text))


_WANTS = re.compile(  # a thank-you that goes on to ask for something is not only thanks
    r"\b(raise|add|discuss|item|agenda item|question|could we|can we|would like|i'?d like|"
    r"next time|share|bring)\b",
    _I,
)


def _pleasantry(lines: list[str]) -> bool:
    """True if the whole text is a thank-you, a "see you there" or a "nothing from me"."""
    text = _plain(" ".join(ln.strip() for ln in lines if ln.strip()))
    if "?" in text or len(text) >= 120:
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
    lines = _trim_blank(lines)
    title, rest = _unwrap_title(lines[0].strip(), len(lines[0].strip()), lines[1:])
    following = [ln for ln in rest if ln.strip()]
    if title.endswith(":") and following and not re.match(r"^\s*([-*•]|\d+[.)])\s", following[0]):
        rest = _trim_blank(rest)
        title, rest = _unwrap_title(rest[0].strip(), len(rest[0].strip()), rest[1:])
    title, minutes = _time_request(_without_trailing_signoff(title))
    if not kind:
        kind = "question" if re.search(r"\?[\s\"'”’)\]]*$", _without_symbols(title)) else "agenda"
    if minutes is None:
        title, minutes = _asked_minutes(title, kind)
    return ParsedItem(kind, title, _tidy_body(rest), minutes)


def _resource_title(subject: str, names: Sequence[str]) -> str:
    """A fresh subject (not a reply to our mail) titles a text-less resource post."""
    if subject.strip() and not _REPLY_PREFIX.match(subject):
        return subject.strip()
    return names[0]


# --------------------------------------------------------------------------- bytes in


def read_reply(mail: ParsedMail) -> ParsedReply:
    """The items of an already parsed message (what ingest should call).

    Uses the sender's name to recognise a bare-name signature, gives automatic mail
    and calendar RSVPs no items, and passes the non-inline filenames for the
    resource title. `body` is the member's own text, or the whole text if they wrote
    nothing of their own.
    """
    files = [a for a in mail.attachments if not a.inline]
    own = member_text(mail.text, names=_sender_names(mail.from_name, mail.from_address))
    body = own or _normalise(mail.text).strip()
    if mail.automatic is not None or is_rsvp(mail) or is_poll_reply(mail):
        return ParsedReply(body, (), False, ())
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
    """True if the message carries an iTIP REPLY (a calendar accept/decline)."""
    return any(_is_itip_reply(cal) for cal in mail.calendars)


def parse_reply(raw: bytes, *, envelope_from: str | None = None) -> dict[str, object]:
    """What a reply would record: the DESIGN.md `inbox parse` JSON shape. Never raises.

    Keys: automatic (reason or None), body (cleaned text), items, attachments
    (non-inline only), plus apologies, withdraw, rsvp (True for a calendar REPLY), poll
    (True for a reply to a poll, which the server reads as a vote), and
    the commands a reply to a call for items would carry out: votes (``[{item,
    value}]``) and volunteers (question ids). Command lines are not items, and neither
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
    }  # fmt: skip
    try:
        reply = read_reply(mail)
    except Exception as exc:  # a parser bug must not lose the message: report it
        result["error"] = f"reply parsing failed: {type(exc).__name__}"
        return result
    result["body"] = reply.body
    result["items"] = [_item_dict(item) for item in reply.items]
    result["apologies"] = reply.apologies
    result["withdraw"] = list(reply.withdraw)
    result["votes"] = [{"item": v.item_id, "value": v.value} for v in reply.votes]
    result["volunteers"] = list(reply.volunteers)
    return result


def _item_dict(item: ParsedItem) -> dict[str, object]:
    return {"kind": item.kind, "title": item.title, "body": item.body, "minutes": item.minutes}


def _is_itip_reply(calendar: str) -> bool:
    unfolded = re.sub(r"\r?\n[ \t]", "", calendar)
    return bool(re.search(r"^METHOD\s*:\s*REPLY\s*$", unfolded, re.MULTILINE | _I))


def _sender_names(name: str, address: str) -> list[str]:
    """Forms of the sender's name that may end their message as a signature."""
    names = [name] if name and "@" not in name else []
    local = address.split("@")[0]
    if re.fullmatch(r"[A-Za-z]{2,}[._][A-Za-z]{2,}", local):
        names.append(re.sub(r"[._]", " ", local))
    return names
