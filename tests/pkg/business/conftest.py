"""The shared local SparkSession (the oracle's lead-time model is a Spark pipeline)."""

from tests.pkg.transforms.conftest import spark  # noqa: F401
