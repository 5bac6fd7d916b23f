"""Write each language's catalog (service/web/locale/<lang>/LC_MESSAGES/messages.po) from
the extracted messages.pot and the language's translation table; run by `make messages`."""

from __future__ import annotations

import runpy
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALE = Path(__file__).resolve().parents[2] / "service" / "web" / "locale"

# msgid (or singular and plural) → translation (or its forms), from the table beside the catalogs.
NB: dict[str | tuple[str, ...], str | tuple[str, ...]] = runpy.run_path(
    str(LOCALE / "nb_translations.py")
)["NB"]


def main() -> int:
    with (LOCALE / "messages.pot").open("rb") as fp:
        catalog = read_po(fp, locale="nb")
    catalog.locale = "nb"
    catalog.fuzzy = False
    catalog.project, catalog.version = "CLO engine", "0.1.0"
    missing = []
    for message in catalog:
        if not message.id:
            continue
        # A plural's id is its singular and plural forms (a tuple from read_po; a list is allowed).
        found = NB.get(tuple(message.id) if isinstance(message.id, list) else message.id)
        if found is None:
            missing.append(message.id)
        message.string = found if found is not None else ("", "") if message.pluralizable else ""
    out = LOCALE / "nb" / "LC_MESSAGES" / "messages.po"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fp:
        write_po(fp, catalog, omit_header=False, no_location=True, width=100)
    for msgid in missing:
        print(f"nb: not translated: {msgid!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
