"""The transform tests' SparkSession."""

from tests.pkg.transforms.conftest import spark  # noqa: F401
