"""Writes docs/indicators.md from the catalogue: `python -m indicators.docs > docs/indicators.md`."""

from __future__ import annotations

from indicators.catalogue import ACCESS_POINT, CATALOGUE, PROGRAMME, Indicator

FAMILY_TITLES = {
    "coverage": "Coverage (stock, on the as-of date)",
    "packages": "Combined benefit packages (stock)",
    "referrals": "Referrals (flow, over the period)",
    "duplicates": "Duplicates (stock)",
    "data_quality": "Data quality (left-out rows included)",
}
DIRECTION = {True: "higher", False: "lower", None: "—"}


def _breakdowns(ind: Indicator) -> str:
    parts = []
    if ind.per_programme:
        parts.append("per programme")
    for b in ind.breakdowns:
        parts.append({PROGRAMME: "programme referred to",
                      ACCESS_POINT: "`access_point=<id>`"}.get(b, f"`{b}`"))
    return ", ".join(parts) or "—"


def render() -> str:
    lines = [
        "# Indicators",
        "",
        "Generated from `indicators/catalogue.py` by `python -m indicators.docs`; do not edit by",
        "hand. The exact definitions are those of the spec (`shared/spec/indicators.md`); Socle's",
        "readings where it leaves a choice are in [spec-choices.md](spec-choices.md).",
        "",
    ]
    for family, title in FAMILY_TITLES.items():
        lines += [f"## {title}", "",
                  "| id | label | numerator | denominator | unit | breakdowns | better |",
                  "|---|---|---|---|---|---|---|"]
        for ind in (i for i in CATALOGUE if i.family == family):
            note = f" ({ind.note})" if ind.note else ""
            lines.append(
                f"| `{ind.id}` | {ind.label} | {ind.numerator} | {ind.denominator or '—'}{note} "
                f"| {ind.unit} | {_breakdowns(ind)} | {DIRECTION[ind.higher_is_better]} |"
            )
        lines.append("")
    lines += [
        "Units: `percent` values are fractions shown as percentages; `per_1000` values are",
        "fractions too (pairs ÷ persons), shown × 1,000 (pairs per 1,000 persons).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
