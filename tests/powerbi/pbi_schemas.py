"""Microsoft's published JSON schemas for the Power BI project files, pinned by commit and blob.

The PBIP shortcut, ``definition.pbir``, ``definition.pbism`` and the PBIR report files each name
their schema in ``"$schema"``. The schemas come from ``microsoft/json-schemas`` at one commit and
nothing of them is vendored into the repository: ``schema_path`` finds each file in

1. the directory named by ``PBI_SCHEMA_MIRROR`` (CI points it at ``../shared/pbi-schemas``),
2. the user cache ``${XDG_CACHE_HOME:-~/.cache}/retail-platform/pbi-schemas/``,
3. or downloads it from ``raw.githubusercontent.com`` at the pinned commit into that cache,

and refuses any copy whose git blob id differs from the pinned one
(``tests/pinned_files.py``, shared with the Kubernetes schemas). Only the newest version of each file type the project writes is
pinned, with the files those reference, so a project file naming an older or unknown schema
fails instead of being checked against something looser. ``validator_for`` resolves a
``"$schema"`` URL to a draft-07 validator whose ``$ref``s resolve offline through a
``referencing`` registry of the pinned files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.pinned_files import PinnedStore, download, git_blob_id  # noqa: F401  (re-exported)

ENV = "PBI_SCHEMA_MIRROR"
REPO = "microsoft/json-schemas"
COMMIT = "f891f5bfc1ce0030aa53d805d90881a1b8b07643"
PUBLISHED = "https://developer.microsoft.com/json-schemas/"

_REPORT = "fabric/item/report/definition/"
# Path in the repository (and in the mirror) -> git blob id at COMMIT (`git hash-object`).
PINNED: dict[str, str] = {
    "fabric/pbip/pbipProperties/1.0.0/schema.json":
        "192de75e4fd3c45ce15d1494d668e562d6b60004",
    "fabric/item/report/definitionProperties/2.0.0/schema.json":
        "53734071a8f9ff5f1ff790a414127f9969f292f6",
    "fabric/item/semanticModel/definitionProperties/1.0.0/schema.json":
        "8c16c5f4e803238cf3b38a5b8adb305b7fc0eca4",
    _REPORT + "report/3.3.0/schema.json": "c229c85a5da74a9a7267e28f244ce6c16010ce7a",
    _REPORT + "versionMetadata/1.0.0/schema.json": "d815e9228549b097372624a206a6bce1d458036c",
    _REPORT + "pagesMetadata/1.1.0/schema.json": "b2946c9820b842160a0dbb68bf0d502515c858d8",
    _REPORT + "page/2.1.0/schema.json": "a5569dc16e8ee43a5fe8231dd6ff754d1a436080",
    _REPORT + "visualContainer/2.9.0/schema.json": "0c0f1f1475d51dae6f31bf9b07395fa7c0700909",
    # Referenced by the ones above, never named by a project file.
    _REPORT + "visualConfiguration/2.3.0/schema-embedded.json":
        "287012c60d62ccc1b1b2534ef14ac70ba74d6620",
    _REPORT + "filterConfiguration/1.3.0/schema-embedded.json":
        "fae3748ef932593585e40e502b50ff691bffa22e",
    _REPORT + "semanticQuery/1.4.0/schema.json": "e028cf17577aa75a1a3a5abcee0c512a01efec24",
    _REPORT + "formattingObjectDefinitions/1.5.0/schema.json":
        "8b1ac36cdac7e01b2c36547111b4fa5d073a0ce6",
}


class SchemaError(RuntimeError):
    """A pinned schema is unknown, unavailable, or not the pinned content."""


def upstream_url(rel: str) -> str:
    return f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/{rel}"


_STORE = PinnedStore("pbi-schemas", ENV, SchemaError)


def cache_dir() -> Path:
    return _STORE.cache_dir()


_download = download  # module attribute: the tests replace it to stay offline


def schema_path(rel: str) -> Path:
    """The verified local copy of the pinned schema ``rel`` (its path in the repository).

    Raises:
        SchemaError: ``rel`` is not pinned, no copy can be had, or a copy's blob id differs.
    """
    if rel not in PINNED:
        raise SchemaError(f"{rel!r} is not a pinned schema; pinned: {', '.join(sorted(PINNED))}")
    return _STORE.locate(rel, blob=PINNED[rel], url=upstream_url(rel),
                         origin=f"{REPO}@{COMMIT[:12]}", download=lambda url: _download(url))


@cache
def registry() -> Registry:
    """Every pinned schema under its published URL and under its ``$id``.

    Both, because some files declare an ``$id`` that differs from their path (the embedded
    schemas say ``schema.embedded.json`` while living at ``schema-embedded.json``): a relative
    ``$ref`` reaches a file by its path, and the refs inside it resolve against its ``$id``.
    """
    resources = []
    for rel in PINNED:
        contents = json.loads(schema_path(rel).read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT7)
        resources.append((PUBLISHED + rel, resource))
        if contents.get("$id", PUBLISHED + rel) != PUBLISHED + rel:
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


def validator_for(schema_url: str) -> Draft7Validator:
    """A validator for the schema a project file names in ``"$schema"``.

    Raises:
        SchemaError: the URL is not one of the pinned schemas' published URLs.
    """
    rel = schema_url.removeprefix(PUBLISHED)
    if not schema_url.startswith(PUBLISHED) or rel not in PINNED:
        named = sorted(PUBLISHED + r for r in PINNED if "-embedded" not in r)
        raise SchemaError(f"$schema {schema_url!r} is not a pinned schema; use one of {named}")
    schema = registry().contents(schema_url)
    return Draft7Validator(schema, registry=registry())


def document_errors(doc: dict) -> list[str]:
    """Every way a project file breaks the schema its ``"$schema"`` names, as
    ``path/in/document: message`` lines (empty when it is valid).

    Raises:
        SchemaError: ``doc`` names no schema, or one that is not pinned.
    """
    if "$schema" not in doc:
        raise SchemaError('no "$schema": every Power BI project file names its schema')
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in validator_for(doc["$schema"]).iter_errors(doc)]
