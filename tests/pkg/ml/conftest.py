from __future__ import annotations

from tests.pkg.transforms.conftest import spark  # noqa: F401
