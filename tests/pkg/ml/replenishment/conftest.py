"""The shared local SparkSession of the transform tests."""

from tests.pkg.transforms.conftest import spark  # noqa: F401
