"""The one-page brief of a committee meeting: print-ready HTML, self-contained, and as PDF.

``build_brief`` turns a ``Brief`` (the district, the dates, the headline figures with their
change since the previous meeting, the gaps, the action points) into one HTML document with
its CSS inline, laid out for A4 (``@page``, ``@media print``) and with no external resource
(no font, image or script is fetched), so a browser prints it as it is, offline. Every value
is HTML-escaped. Texts go through ``i18n.t``, in the language given to ``build_brief`` (None:
the current one); the page is marked with it (``lang``) and reads right to left for Urdu and
Pashto (``dir="rtl"``, with Arabic-script fonts first). Never imports Streamlit.

``brief_pdf`` sets the same document on one A4 page as PDF with WeasyPrint (a pure-Python
layout engine over the system's Pango library; no browser), in smaller type when a long
list of action points would run onto a second page. ``pdf_problem`` says why PDFs cannot be
made on a machine without Pango.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from core import i18n
from core.i18n import current_language, format_number, t
from views.figure_cards import FigureCard
from views.gaps import Gap

MIME = "text/html"
PDF_MIME = "application/pdf"
# Base type sizes (pt) tried in turn until the PDF fits one A4 page (the HTML's is 8.5).
FIT_SIZES: tuple[float, ...] = (8.5, 7.5, 6.5, 5.5)

CSS = """
@page { size: A4; margin: 10mm 11mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Noto Sans", "Noto Naskh Arabic", sans-serif;
       font-size: 8.5pt; color: #111; margin: 0 auto; max-width: 188mm; line-height: 1.25; }
html:lang(ur) body { font-family: "Noto Nastaliq Urdu", "Noto Naskh Arabic", sans-serif;
                     line-height: 1.7; }
html:lang(ps) body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", sans-serif;
                     line-height: 1.5; }
h1 { font-size: 13pt; margin: 0 0 1mm; }
h2 { font-size: 10pt; margin: 3mm 0 1mm; border-bottom: 1px solid #999; }
h3 { font-size: 8.5pt; margin: 1.5mm 0 0.8mm; }
p { margin: 0 0 1mm; }
.meta { color: #444; font-size: 8pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1mm; }
th, td { border: 1px solid #bbb; padding: 0.4mm 1.2mm; text-align: start; vertical-align: top; }
th { background: #eee; font-weight: 600; }
td.num { text-align: end; white-space: nowrap; direction: ltr; unicode-bidi: isolate; }
td.date { white-space: nowrap; }
.gaps { display: grid; grid-template-columns: 1fr 1fr; gap: 0 4mm; }
.note { color: #555; font-size: 7pt; }
tr.overdue td { background: #fde2e2; }
.flag { color: #b00020; font-weight: bold; }
.up-good, .down-good { color: #1b6e2a; }
.up-bad, .down-bad { color: #b00020; }
@media print {
  body { max-width: none; }
  h2, table, .gap { break-inside: avoid; }
  th, tr.overdue td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


@dataclass(frozen=True)
class Brief:
    """What the brief shows. ``cards`` and ``gaps`` come from views.gaps."""

    area_name: str
    level_name: str
    as_of: dt.date
    period_start: dt.date
    meeting: str | None  # "the meeting of …" when one is in progress at the as-of date
    previous: str | None  # the meeting the changes are measured against
    registry_loaded: str
    cards: Sequence[FigureCard]
    gaps: Sequence[Gap]
    open_points: Sequence[dict] = field(default_factory=tuple)  # views.gaps.action_rows
    closed_points: Sequence[dict] = field(default_factory=tuple)
    generated_at: dt.datetime | None = None


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _change_class(card: FigureCard) -> str:
    if card.change is None or card.delta_color == "off" or round(card.change, 12) == 0:
        return ""
    up = card.change > 0
    good = up if card.delta_color == "normal" else not up
    return f' class="num {"up" if up else "down"}-{"good" if good else "bad"}"'


def _figures(brief: Brief) -> str:
    head = [t("Figure"), t("Value"), t("Counts")]
    if brief.previous:
        head += [t("Previous meeting"), t("Change")]
    rows = []
    for card in brief.cards:
        counts = ""
        if card.whole_registry_only:
            counts = t("Whole registry")
        elif card.empty:
            counts = t("Nothing to count")
        elif card.numerator is not None and card.denominator is not None:
            counts = t("{numerator} of {denominator}", numerator=format_number(card.numerator),
                       denominator=format_number(card.denominator))
        cells = [f"<td>{_e(t(card.label))}</td>", f'<td class="num">{_e(card.text)}</td>',
                 f'<td class="num">{_e(counts)}</td>']
        if brief.previous:
            cls = _change_class(card) or ' class="num"'
            cells += [f'<td class="num">{_e(card.previous_text or "–")}</td>',
                      f"<td{cls}>{_e(card.change_text or '–')}</td>"]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    definitions = "; ".join(f"<b>{_e(t(c.label))}</b>: {_e(t(c.definition))}" for c in brief.cards)
    return (f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="note">{definitions}.</p>')


def _gap(gap: Gap) -> str:
    parts = [f'<div class="gap"><h3>{_e(t(gap.title))}</h3>']
    if gap.summary:
        parts.append(f"<p>{_e(gap.summary)}</p>")
    if gap.table.empty:
        parts.append(f'<p class="note">{_e(t(gap.empty_note))}</p>')
    else:
        head = [t(gap.name_label), t(gap.indicator.label), t("Numerator"), t("Denominator")]
        rows = []
        for row in gap.table.itertuples(index=False):
            numbers = [row.Shown, _count(row.Numerator), _count(row.Denominator)]
            rows.append("<tr><td>" + _e(row.Name) + "</td>"
                        + "".join(f'<td class="num">{_e(v)}</td>' for v in numbers) + "</tr>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
                     + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
        if gap.unranked:
            parts.append(f'<p class="note">{_e(t(gap.unranked_note, count=gap.unranked))}</p>')
    parts.append(f'<p class="note">{_e(t(gap.indicator.label))}: '
                 f"{_e(t(gap.indicator.definition))}.</p></div>")
    return "".join(parts)


def _count(value: object) -> str:
    try:
        return format_number(int(value))
    except (TypeError, ValueError):
        return "–"


def _points(points: Sequence[dict], *, closed: bool) -> str:
    head = [t("Action"), t("Owner"), t("Due"), t("Status")]
    if closed:
        head.append(t("Closed"))
    rows = []
    for p in points:
        cls = ' class="overdue"' if p.get("Overdue") else ""
        due = p["Due"].isoformat() if isinstance(p.get("Due"), dt.date) else p.get("Due")
        status = (f'<span class="flag">{_e(p["Status"])}</span>' if p.get("Overdue")
                  else _e(p["Status"]))
        cells = [f"<td>{_e(p['Action'])}</td>", f"<td>{_e(p['Owner'])}</td>",
                 f'<td class="date">{_e(due)}</td>', f"<td>{status}</td>"]
        if closed:
            cells.append(f"<td>{_e(p.get('Closed', ''))}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def build_brief(brief: Brief, language: str | None = None) -> str:
    """The brief as one self-contained, print-ready HTML document, in ``language`` (None: the
    current one)."""
    with i18n.using(language):
        return _build_brief(brief)


def _build_brief(brief: Brief) -> str:
    title = t("Committee meeting brief — {area}", area=brief.area_name)
    meeting = (t("Figures frozen at {meeting}.", meeting=brief.meeting) if brief.meeting
               else t("No meeting has been started at this as-of date: live figures."))
    previous = (t("Changes since {meeting}.", meeting=brief.previous) if brief.previous
                else t("No earlier meeting to compare with."))
    generated = brief.generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    overdue = sum(1 for p in brief.open_points if p.get("Overdue"))
    dates = t("{level} · figures as of {as_of}; referrals made from {start} to {as_of}.",
              level=brief.level_name, as_of=i18n.format_date(brief.as_of),
              start=i18n.format_date(brief.period_start))
    loaded = t("Registry last loaded: {when}.", when=brief.registry_loaded)
    printed = t("Printed from Socle on {when}.",
                when=t("{day} {time} UTC", day=i18n.format_date(generated.date()),
                       time=f"{generated:%H:%M}"))
    headline, gaps, open_points = (t("Headline figures"), t("Biggest gaps"),
                                   t("Open action points"))
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(dates)}<br>{_e(meeting)} {_e(previous)}<br>'
        f"{_e(loaded)} {_e(printed)}</p>",
        f"<h2>{_e(headline)}</h2>",
        _figures(brief),
        f"<h2>{_e(gaps)}</h2>",
        '<div class="gaps">' + "".join(_gap(g) for g in brief.gaps) + "</div>",
        f"<h2>{_e(open_points)}</h2>",
    ]
    if brief.open_points:
        if overdue:
            flag = t("{count} overdue.", count=format_number(overdue))
            body.append(f'<p class="flag">{_e(flag)}</p>')
        body.append(_points(brief.open_points, closed=False))
    else:
        none_open = t("No open action point.")
        body.append(f'<p class="note">{_e(none_open)}</p>')
    if brief.closed_points:
        closed = t("Closed at this meeting")
        body.append(f"<h3>{_e(closed)}</h3>")
        body.append(_points(brief.closed_points, closed=True))
    code = current_language()
    direction = "rtl" if i18n.is_rtl(code) else "ltr"
    return (f'<!DOCTYPE html>\n<html lang="{_e(code)}" dir="{direction}"><head>'
            f'<meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head>'
            f"<body>{''.join(body)}</body></html>\n")


def brief_bytes(brief: Brief) -> bytes:
    return build_brief(brief).encode("utf-8")


def file_name(area_id: str, as_of: dt.date, extension: str = "html") -> str:
    """``meeting-brief-PK601-2026-10-31.html`` (unsafe characters of the id replaced)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", area_id).strip("_") or "area"
    return f"meeting-brief-{safe}-{as_of.isoformat()}.{extension}"


def pdf_problem() -> str | None:
    """Why the brief cannot be made as PDF here (None when it can): WeasyPrint needs the
    Pango library of the system (Debian: libpango-1.0-0 libpangoft2-1.0-0)."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _type_size_css(size: float) -> str:
    """The brief's type at ``size`` pt (headings and notes in proportion)."""
    return (f"body {{ font-size: {size:.2f}pt !important; }} "
            f"h1 {{ font-size: {size * 1.55:.2f}pt !important; }} "
            f"h2 {{ font-size: {size * 1.2:.2f}pt !important; }} "
            f"h3, .meta {{ font-size: {size:.2f}pt !important; }} "
            f".note {{ font-size: {size * 0.82:.2f}pt !important; }}")


def brief_pdf(brief: Brief) -> bytes:
    """The brief as a one-page A4 PDF.

    Set at the HTML's size first; a brief that runs onto a second page (many or long action
    points) is set again in smaller type (``FIT_SIZES``), the smallest whatever happens.
    """
    from weasyprint import CSS, HTML

    # WeasyPrint warns of every CSS property it does not know (print-color-adjust, for the
    # browsers that print the HTML brief): not worth a line in the server log each time.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    page = HTML(string=build_brief(brief))
    for size in FIT_SIZES:
        document = page.render(stylesheets=[CSS(string=_type_size_css(size))])
        if len(document.pages) <= 1:
            break
    return document.write_pdf()
