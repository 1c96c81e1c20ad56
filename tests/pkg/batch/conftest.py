"""The batch tests' local SparkSession, shared (one JVM for the whole run)."""

from tests.pkg.transforms.conftest import spark  # noqa: F401
