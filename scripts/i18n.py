"""The translation catalogues: extract the messages, update every language, check them.

    python scripts/i18n.py extract        # locales/messages.pot from the code
    python scripts/i18n.py update         # extract, then merge into every locales/*/.po
    python scripts/i18n.py init LANG      # a new language: locales/LANG/LC_MESSAGES/messages.po
    python scripts/i18n.py check          # exit 1 when a message has no translation in a .po
                                          # (missing, empty or fuzzy) or its fields differ

Extraction is ``pybabel extract``'s: the files babel.cfg names, the keywords ``t`` and ``N_``
(``pybabel extract -F babel.cfg -k t -k N_ --no-default-keywords`` gives the same messages,
but for the next point), plus the labels of the record-linkage model's comparison levels,
which are data (``linkage.model.comparisons()``) that the review of a duplicate pair shows
as "what the model found". Updating keeps every translation; a message whose English text
changed comes back fuzzy, with the old translation, for a translator to look at.
"""

from __future__ import annotations

import argparse
import datetime as dt
import string
import sys
from collections.abc import Iterator
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
TEMPLATE = LOCALES / "messages.pot"
KEYWORDS = {"t": None, "N_": None}
PROJECT = "Socle"
VERSION = "0.1"
COPYRIGHT = "the Socle contributors"
CREATED = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)  # fixed: the files change only with content
HEADER = ("# {language} messages of Socle (English text -> {language}).\n"
          "# Kept with `python scripts/i18n.py update`; see README, \"Adding a language\".\n"
          "#")


def _catalog(locale: Locale | None = None) -> Catalog:
    catalog = Catalog(locale=locale, project=PROJECT, version=VERSION,
                      copyright_holder=COPYRIGHT, creation_date=CREATED,
                      revision_date=CREATED, charset="utf-8", fuzzy=False)
    catalog.header_comment = HEADER.format(
        language=locale.english_name if locale is not None else "The")
    return catalog


def _code_messages() -> Iterator[tuple[str, str, int]]:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    for path, line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS,
            directory_filter=lambda d: not Path(d).name.startswith(".")):
        if isinstance(message, str) and message:
            yield message, path, line


def _linkage_levels() -> Iterator[str]:
    """The comparison levels' labels of the record-linkage model (data, not marked)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from linkage import model

    for comparison in model.comparisons():
        for level in comparison["comparison_levels"]:
            yield level["label_for_charts"]


def extract() -> Catalog:
    """Every message of the code, with where it is written."""
    catalog = _catalog()
    for message, path, line in _code_messages():
        catalog.add(message, locations=[(path, line)])
    for label in _linkage_levels():
        if label not in catalog:
            catalog.add(label, auto_comments=["linkage.model: a comparison level's label"])
    return catalog


def fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return {"<unbalanced braces>"}


def read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # Files without line numbers: a change elsewhere in a module does not touch them.
        write_po(handle, catalog, width=96, omit_header=False, sort_output=False,
                 include_previous=True, include_lineno=False)


def catalogue_paths() -> list[Path]:
    return sorted(LOCALES.glob("*/LC_MESSAGES/messages.po"))


def update(template: Catalog) -> None:
    for path in catalogue_paths():
        catalog = read(path)
        catalog.update(template, update_header_comment=False)
        catalog.obsolete.clear()  # git keeps the history; the files keep what is used
        write(path, catalog)


def init(code: str, template: Catalog) -> Path:
    catalog = _catalog(Locale.parse(code))
    catalog.update(template)
    path = LOCALES / code / "LC_MESSAGES" / "messages.po"
    if path.exists():
        raise SystemExit(f"{path} exists: run `update`")
    write(path, catalog)
    return path


def problems(template: Catalog, catalog: Catalog) -> list[str]:
    """What keeps ``catalog`` from being complete for the messages of ``template``."""
    found = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        if entry is None:
            found.append(f"missing: {message.id!r}")
        elif not entry.string:
            found.append(f"empty: {message.id!r}")
        elif entry.fuzzy:
            found.append(f"fuzzy: {message.id!r}")
        elif fields(entry.string) != fields(message.id):
            found.append(f"fields {sorted(fields(entry.string))} instead of "
                         f"{sorted(fields(message.id))}: {message.id!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/i18n.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["extract", "update", "init", "check"])
    parser.add_argument("language", nargs="?", help="for init: the new language's code")
    args = parser.parse_args(argv)
    template = extract()
    if args.command in ("extract", "update", "init"):
        write(TEMPLATE, template)
        print(f"{TEMPLATE.relative_to(ROOT)}: {len(template)} messages")
    if args.command == "update":
        update(template)
    if args.command == "init":
        if not args.language:
            parser.error("init needs the language's code, e.g. `init bn`")
        print(f"wrote {init(args.language, template).relative_to(ROOT)}")
    failed = False
    for path in catalogue_paths():
        found = problems(template, read(path))
        print(f"{path.relative_to(ROOT)}: {len(template) - len(found)} of {len(template)} "
              f"messages translated")
        if args.command == "check" and found:
            failed = True
            for line in found[:50]:
                print(f"  {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
