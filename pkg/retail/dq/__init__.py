"""Data-quality checks: the declared list (:mod:`retail.dq.checks`), their SQL
(:mod:`retail.dq.sql`) and the runner that evaluates, records and alerts
(:mod:`retail.dq.runner`). See ``docs/data-quality.md``."""

from retail.dq.checks import CHECKS, Check
from retail.dq.runner import Result, Run, Window, latest, publish_alerts, record, run_checks

__all__ = ["CHECKS", "Check", "Result", "Run", "Window", "latest", "publish_alerts", "record",
           "run_checks"]
