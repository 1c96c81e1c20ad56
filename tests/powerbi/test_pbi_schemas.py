"""The Microsoft JSON schemas the report is validated against: pinned by git blob, read from
a mirror (PBI_SCHEMA_MIRROR), the user's cache or a download at the pinned commit, and
refused when a copy differs from its pin."""

from __future__ import annotations

import pytest

from tests.powerbi import pbi_schemas
from tests.powerbi.pbi_schemas import ENV, PINNED, SchemaError, schema_path

PAGE_SCHEMA = "fabric/item/report/definition/page/2.1.0/schema.json"


@pytest.fixture(scope="module")
def genuine() -> bytes:
    """The pinned page schema, from wherever this run gets its schemas (mirror, cache or
    upstream), read before a test isolates itself from them."""
    return schema_path(PAGE_SCHEMA).read_bytes()


@pytest.fixture
def isolated(tmp_path, monkeypatch, genuine):
    """No mirror and an empty cache under ``tmp_path``; returns the cache directory."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "retail-platform" / "pbi-schemas"


def no_download(url: str) -> bytes:
    raise AssertionError(f"unexpected download of {url}")


@pytest.mark.parametrize("rel", sorted(PINNED))
def test_every_pinned_schema_is_available_and_matches_its_blob(rel):
    assert pbi_schemas.git_blob_id(schema_path(rel).read_bytes()) == PINNED[rel]


def test_a_corrupted_mirror_copy_is_refused(tmp_path, monkeypatch, genuine):
    (tmp_path / PAGE_SCHEMA).parent.mkdir(parents=True)
    (tmp_path / PAGE_SCHEMA).write_bytes(genuine.replace(b'"maxLength": 50', b'"maxLength": 500'))
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(SchemaError, match=f"{ENV} copy .* has git blob .*{PINNED[PAGE_SCHEMA]}"):
        schema_path(PAGE_SCHEMA)


def test_a_missing_schema_is_downloaded_at_the_pinned_commit_into_the_cache_once(
        monkeypatch, isolated, genuine):
    urls = []
    monkeypatch.setattr(pbi_schemas, "_download", lambda url: urls.append(url) or genuine)
    assert schema_path(PAGE_SCHEMA) == isolated / PAGE_SCHEMA
    assert schema_path(PAGE_SCHEMA).read_bytes() == genuine  # the second time, from the cache
    assert urls == [f"https://raw.githubusercontent.com/microsoft/json-schemas/"
                    f"f891f5bfc1ce0030aa53d805d90881a1b8b07643/{PAGE_SCHEMA}"]


def test_a_corrupted_download_is_refused_and_not_cached(monkeypatch, isolated, genuine):
    monkeypatch.setattr(pbi_schemas, "_download", lambda url: genuine[:-10])
    with pytest.raises(SchemaError, match="the download from .* has git blob"):
        schema_path(PAGE_SCHEMA)
    assert not (isolated / PAGE_SCHEMA).exists()


def test_a_corrupted_cached_copy_is_refused(monkeypatch, isolated, genuine):
    (isolated / PAGE_SCHEMA).parent.mkdir(parents=True)
    (isolated / PAGE_SCHEMA).write_bytes(genuine + b" ")
    monkeypatch.setattr(pbi_schemas, "_download", no_download)
    with pytest.raises(SchemaError, match="the cached copy .* has git blob"):
        schema_path(PAGE_SCHEMA)
