"""Microsoft's add-in manifest schema (tests/addin/schemas/, see its README), loaded offline with lxml.

Two of Microsoft's files write the version pattern ``(\\.[0-9]{1,5}){0,3}?``: a lazy quantifier, which
.NET accepts but XML Schema regular expressions (and libxml2) do not. An XSD pattern always matches the
whole value, so the plain ``{0,3}`` means the same; the files stay verbatim and are patched in memory.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMAS = Path(__file__).parent / "schemas"
_LAZY, _GREEDY = "{0,3}?", "{0,3}"


class _Patched(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        return self.resolve_string(_text(Path(system_url).name), context)


def _text(name: str) -> str:
    return (SCHEMAS / name).read_text(encoding="utf-8").replace(_LAZY, _GREEDY)


@cache
def manifest_schema() -> etree.XMLSchema:
    parser = etree.XMLParser()
    parser.resolvers.add(_Patched())
    root = etree.fromstring(_text("OfficeAppManifestV1_1.xsd").encode(), parser, base_url=str(SCHEMAS) + "/")
    return etree.XMLSchema(root)


def schema_errors(document: str) -> list[str]:
    """The schema's complaints about ``document`` (empty: valid)."""
    schema = manifest_schema()
    schema.validate(etree.fromstring(document.encode()))
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
