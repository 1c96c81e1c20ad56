"""What `ct lint` checks before it calls helm, run offline with chart-testing's own rules.

The ct binary cannot be installed here, but its lint is two tools with two rule files:
``yamale --schema chart_schema.yaml Chart.yaml`` and ``yamllint --config-file lintconf.yaml``
on Chart.yaml, values.yaml and every ``ci/*-values.yaml`` (helm/chart-testing v3.14.0,
pkg/chart/chart.go ``LintChart``). The rule files are the pinned copies from
``tests.k8s.schemas``. ``ct.yaml`` itself is checked against the configuration keys ct knows,
and its chart repositories against the chart's dependencies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yamale
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.k8s.helm import CHART, ROOT
from tests.k8s.schemas import schema_path

CT_CONFIG = ROOT / "ct.yaml"
# The mapstructure keys of ct's Configuration (helm/chart-testing v3.14.0,
# pkg/config/config.go): anything else in ct.yaml is silently ignored by ct.
CT_KEYS = {
    "remote", "target-branch", "since", "build-id", "lint-conf", "chart-yaml-schema",
    "validate-maintainers", "validate-chart-schema", "validate-yaml",
    "skip-helm-dependencies", "additional-commands", "check-version-increment", "all",
    "charts", "chart-repos", "chart-dirs", "excluded-charts", "helm-extra-args",
    "helm-extra-set-args", "helm-lint-extra-args", "helm-repo-extra-args",
    "helm-dependency-extra-args", "debug", "upgrade", "skip-missing-values",
    "skip-clean-up", "namespace", "release-name", "release-label", "exclude-deprecated",
    "kubectl-timeout", "print-logs", "github-groups", "use-helmignore",
}


def yamale_errors(chart_yaml: Path) -> list[str]:
    """``yamale --schema chart_schema.yaml`` (strict, as the CLI ct calls is by default)."""
    schema = yamale.make_schema(str(schema_path("chart-testing/chart_schema.yaml")))
    try:
        yamale.validate(schema, yamale.make_data(str(chart_yaml)), strict=True)
    except yamale.YamaleError as exc:
        return [error for result in exc.results for error in result.errors]
    return []


def yamllint_errors(path: Path) -> list[str]:
    """yamllint with ct's lintconf.yaml; only errors fail it (``truthy`` is a warning there)."""
    config = YamlLintConfig(file=str(schema_path("chart-testing/lintconf.yaml")))
    return [f"{path.name}:{p.line}:{p.column}: {p.message}"
            for p in linter.run(path.read_text(), config, str(path)) if p.level == "error"]


def linted_files() -> list[Path]:
    return [CHART / "Chart.yaml", CHART / "values.yaml",
            *sorted((CHART / "ci").glob("*-values.yaml"))]


def ct_config() -> dict:
    return yaml.safe_load(CT_CONFIG.read_text())


def test_chart_yaml_passes_chart_testings_yamale_schema():
    assert yamale_errors(CHART / "Chart.yaml") == []


def test_a_chart_yaml_without_a_version_fails_the_yamale_schema(tmp_path):
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    del meta["version"]
    broken = tmp_path / "Chart.yaml"
    broken.write_text(yaml.safe_dump(meta))
    assert any("version" in error for error in yamale_errors(broken))


def test_a_chart_yaml_with_a_field_the_schema_does_not_know_fails_it(tmp_path):
    broken = tmp_path / "Chart.yaml"
    broken.write_text((CHART / "Chart.yaml").read_text() + "maintainer: someone\n")
    assert any("maintainer" in error for error in yamale_errors(broken))


def test_every_scenario_values_file_is_picked_up_by_ct():
    scenarios = {p.name for p in (CHART / "ci").glob("*.yaml")}
    assert {"01-kind-dev-values.yaml", "02-production-ha-values.yaml"} <= scenarios
    # ct only lints and installs ci/*-values.yaml: anything else there would be ignored.
    assert all(name.endswith("-values.yaml") for name in scenarios), scenarios


@pytest.mark.parametrize("path", linted_files(), ids=lambda p: p.relative_to(CHART).as_posix())
def test_the_file_passes_chart_testings_yamllint_rules(path):
    assert yamllint_errors(path) == []


@pytest.mark.parametrize("mistake, rule", [
    ("image:\n  registry: \"\"   \n", "trailing-spaces"),
    ("image:\n  registry: \"\"\nimage:\n  tag: x\n", "key-duplicates"),
    ("image:\n    registry: \"\"\n    tag: x\nkafka:\n  enabled: true\n", "indentation"),
    ("image: {registry: x}", "new-line-at-end-of-file"),
])
def test_a_values_file_breaking_a_yamllint_rule_fails(tmp_path, mistake, rule):
    values = tmp_path / "03-broken-values.yaml"
    values.write_text(mistake)
    errors = yamllint_errors(values)
    assert any(f"({rule})" in error for error in errors), errors


def test_a_truthy_value_is_only_a_warning_as_in_ct(tmp_path):
    values = tmp_path / "03-yes-values.yaml"
    values.write_text("kafka:\n  enabled: yes\n")
    assert yamllint_errors(values) == []


def test_ct_yaml_uses_only_keys_chart_testing_knows():
    assert set(ct_config()) - CT_KEYS == set()


def test_ct_yaml_with_a_misspelt_key_is_caught():
    config = ct_config() | {"timeout": "900s", "chart-dir": ["charts"]}
    assert set(config) - CT_KEYS == {"timeout", "chart-dir"}


def test_ct_yaml_finds_the_chart_and_waits_long_enough_for_operators():
    config = ct_config()
    assert all((ROOT / d / CHART.name / "Chart.yaml").exists() for d in config["chart-dirs"])
    assert "--timeout 900s" in config["helm-extra-args"]
    assert config["validate-maintainers"] is False
    assert config["target-branch"] == "main"


def repository_of_every_dependency(chart_yaml: Path) -> dict[str, str]:
    return {d["name"]: d["repository"].rstrip("/")
            for d in yaml.safe_load(chart_yaml.read_text())["dependencies"]}


def missing_chart_repos(chart_yaml: Path, config: dict) -> dict[str, str]:
    """Dependencies whose repository ct would not add; OCI ones need no `helm repo add`."""
    added = {entry.split("=", 1)[1].rstrip("/") for entry in config.get("chart-repos", [])}
    return {name: repo for name, repo in repository_of_every_dependency(chart_yaml).items()
            if not repo.startswith("oci://") and repo not in added}


def test_ct_yaml_adds_the_repository_of_every_http_dependency():
    assert missing_chart_repos(CHART / "Chart.yaml", ct_config()) == {}


def test_a_dependency_from_a_repository_ct_yaml_does_not_add_is_caught(tmp_path):
    chart = tmp_path / "Chart.yaml"
    shutil.copy(CHART / "Chart.yaml", chart)
    meta = yaml.safe_load(chart.read_text())
    meta["dependencies"].append({"name": "redis", "version": "1.0.0",
                                 "repository": "https://charts.example.org"})
    chart.write_text(yaml.safe_dump(meta))
    assert missing_chart_repos(chart, ct_config()) == {"redis": "https://charts.example.org"}


def test_ct_yaml_chart_repos_are_named_uniquely_and_never_oci():
    entries = [entry.split("=", 1) for entry in ct_config()["chart-repos"]]
    names = [name for name, _ in entries]
    assert len(names) == len(set(names)), names
    # `helm repo add` refuses oci:// URLs, so such an entry would break `ct lint` at once.
    assert not [url for _, url in entries if url.startswith("oci://")]
