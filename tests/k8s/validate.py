"""Strict offline validation of Kubernetes objects, as close to the API server as we can get.

* Custom resources are checked against the pinned CRD's ``openAPIV3Schema``
  (tests/k8s/schemas.py) with ``jsonschema``. The API server with ``fieldValidation=Strict``
  rejects fields a CRD does not declare, but none of the operators' CRDs says
  ``additionalProperties: false``, so ``strict_schema`` closes every declared object that
  does not opt out with ``x-kubernetes-preserve-unknown-fields``. Structural defaults are
  applied first, as the server does, and every ``x-kubernetes-validations`` CEL rule is
  evaluated with cel-python where it sits. Transition rules (``oldSelf``) compare with the
  stored object, so only a live cluster can run them: they are skipped and reported through
  ``skipped``.
* Built-in kinds go through ``kubernetes_validate`` in strict mode for the target version.
* Any other apiVersion/kind is an error: nothing passes unchecked.

Every error reads ``Kind/name: dotted.path: message``.
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import json
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import celpy
import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

from tests.k8s.schemas import CelRule, cel_rules, crd_schemas

KUBE_VERSION = "1.33"
_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = {"$ref": f"{_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# What cel-python can call: its standard functions plus the CEL macros. Kubernetes adds
# libraries (strings, lists, regex, url, quantity, ...) that cel-python lacks; a rule using
# one must fail loudly when compiled rather than pass or error only on some objects.
_CEL_CALLABLE = set(celpy.evaluation.base_functions) | {
    "has", "dyn", "all", "exists", "exists_one", "map", "filter"}


class CelRuleError(ValueError):
    """A CEL rule that cel-python cannot compile, so it cannot be checked offline."""


@cache
def compile_rule(rule: str) -> tuple[celpy.Runner, bool]:
    """``(program, is_transition_rule)`` for a CEL rule.

    Raises:
        CelRuleError: cel-python cannot parse the rule or lacks a function it calls.
    """
    env = celpy.Environment()
    try:
        ast = env.compile(rule)
    except celpy.CELParseError as e:
        raise CelRuleError(f"CEL rule {rule!r} does not parse: {e}") from e
    idents = {str(t.children[0]) for t in ast.iter_subtrees() if t.data == "ident"}
    calls = {str(t.children[0]) for t in ast.iter_subtrees() if t.data == "ident_arg"}
    calls |= {str(t.children[1]) for t in ast.iter_subtrees() if t.data == "member_dot_arg"}
    missing = sorted(calls - _CEL_CALLABLE)
    if missing:
        raise CelRuleError(f"CEL rule {rule!r} calls {', '.join(missing)}, which cel-python "
                           "does not provide; it cannot be checked offline")
    return env.program(ast), "oldSelf" in idents


def _children(schema: dict, value) -> Iterable[tuple[str | int, dict, object]]:
    """``(key, schema, value)`` for each child of ``value`` that its structural schema
    describes: declared properties, ``additionalProperties`` values and array items."""
    if isinstance(value, dict):
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key, extra)
            if isinstance(sub, dict):
                yield key, sub, item
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        yield from ((i, schema["items"], item) for i, item in enumerate(value))


def _dotted(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(root)"


def skipped_transition_rules() -> list[CelRule]:
    """The rules only a live cluster can check, because they compare with ``oldSelf``."""
    return [rule for rule in cel_rules() if compile_rule(rule.rule)[1]]


def strict_schema(schema: dict, *, root: bool = True) -> dict:
    """A copy of a CRD ``openAPIV3Schema`` that rejects what the API server would reject.

    Objects are closed unless they preserve unknown fields; ``nullable`` admits null (and
    null only there: the server would silently drop it, hiding a value a template failed to
    render); ``x-kubernetes-int-or-string`` admits both; embedded resources and the root get
    ``apiVersion``, ``kind`` and a strict ``ObjectMeta``. ``allOf``/``anyOf``/``oneOf``/``not``
    only add constraints in structural schemas, so they stay as they are.
    """
    node = dict(schema)
    if root or node.get("x-kubernetes-embedded-resource"):
        node["properties"] = {**node.get("properties", {}), "metadata": _OBJECT_META,
                              "apiVersion": {"type": "string"}, "kind": {"type": "string"}}
        if not root:
            node["required"] = sorted({*node.get("required", []), "apiVersion", "kind"})
    if "properties" in node:
        node["properties"] = {name: sub if sub is _OBJECT_META else strict_schema(sub, root=False)
                              for name, sub in node["properties"].items()}
        if "additionalProperties" not in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            node[key] = strict_schema(node[key], root=False)
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        node["type"] = ["integer", "string"]
    if node.get("nullable"):
        if "type" in node:
            node["type"] = [*([node["type"]] if isinstance(node["type"], str) else node["type"]),
                            "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        for key in ("anyOf", "oneOf"):
            if key in node:
                node[key] = [*node[key], {"type": "null"}]
    return node


@cache
def _registry(kube_version: str) -> Registry:
    """Kubernetes' own strict definitions (shipped by kubernetes-validate), for ObjectMeta."""
    folder = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    strict = folder / f"v{kube_version}.0-local-strict" / "_definitions.json"
    if not strict.is_file():
        known = sorted(p.name for p in folder.iterdir() if p.name.endswith("-strict"))
        raise ValueError(f"kube_version {kube_version!r} is not covered by kubernetes-validate "
                         f"{kubernetes_validate.version.__version__}; use one of {known}")
    return Registry().with_resource(_DEFINITIONS, Resource.from_contents(
        json.loads(strict.read_text())))


# Compiled validators by id(schema); the schema is kept alongside so its id stays unique.
_VALIDATORS: dict[tuple[int, str], tuple[dict, jsonschema.Draft4Validator]] = {}


def _validator(schema: dict, kube_version: str) -> jsonschema.Draft4Validator:
    key = (id(schema), kube_version)
    if key not in _VALIDATORS:
        # OpenAPI v3 schemas follow JSON Schema draft 4 (e.g. boolean exclusiveMinimum).
        _VALIDATORS[key] = schema, jsonschema.Draft4Validator(
            strict_schema(schema), registry=_registry(kube_version))
    return _VALIDATORS[key][1]


def _describe(error: jsonschema.ValidationError) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = sorted(error.schema.get("properties", {}))
        lines = []
        for field in (f for f in error.instance if f not in known):
            close = difflib.get_close_matches(field, known, n=1)
            allowed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {allowed}"
            lines.append(f"{_dotted([*path, field])}: unknown field {field!r} ({hint})")
        return lines
    message = error.message if len(error.message) < 300 else error.message[:300] + "..."
    return [f"{_dotted(path)}: {message}"]


def _list_duplicates(schema: dict, items: list) -> list[str]:
    """Duplicates in a ``set`` or ``map`` list, which the API server rejects."""
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys", [])
    if list_type == "set":
        what, ids = "item", [json.dumps(item, sort_keys=True, default=str) for item in items]
    elif list_type == "map":
        what = "/".join(keys)
        ids = [json.dumps([item.get(k) for k in keys], default=str)[1:-1] for item in items
               if isinstance(item, dict)]
    else:
        return []
    return [f"duplicate {what} {key} (x-kubernetes-list-type {list_type}: each must be unique)"
            for key, count in Counter(ids).items() if count > 1]


def _walk(schema: dict, value, path: list, errors: list[str], skipped: list[str]) -> None:
    """Default ``value`` in place, then check list uniqueness and CEL rules, children first
    so that a rule sees defaulted fields as the API server's rules do."""
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
    for key, sub, item in _children(schema, value):
        _walk(sub, item, [*path, key], errors, skipped)
    if isinstance(value, list):
        errors += [f"{_dotted(path)}: {e}" for e in _list_duplicates(schema, value)]
    for spec in schema.get("x-kubernetes-validations", []) if value is not None else ():
        where = (_dotted(path) if path else "") + spec.get("fieldPath", "") or "(root)"
        try:
            program, transition = compile_rule(spec["rule"])
        except CelRuleError as e:
            errors.append(f"{where}: {e}")
            continue
        if transition:
            skipped.append(f"{where}: {spec['rule']}")
            continue
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except celpy.CELEvalError as e:
            result = e
        if isinstance(result, celpy.celtypes.BoolType) and result:
            continue
        message = spec.get("message") or f"failed rule {spec['rule']!r}"
        if isinstance(result, celpy.CELEvalError):
            message += f" (the rule could not be evaluated: {result.args[0]})"
        elif not isinstance(result, celpy.celtypes.BoolType):
            message += f" (the rule gave {result!r}, not a boolean)"
        errors.append(f"{where}: {message}")


def custom_resource_errors(obj: dict, schema: dict, kube_version: str = KUBE_VERSION,
                           skipped: list[str] | None = None) -> list[str]:
    """Errors of ``obj`` against its CRD's ``openAPIV3Schema`` (all of them, unlike the
    built-in check) as ``path: message``; skipped transition rules go to ``skipped``."""
    obj = copy.deepcopy(obj)  # defaults are applied to a copy
    cel_errors: list[str] = []
    _walk(schema, obj, [], cel_errors, skipped if skipped is not None else [])
    errors = _validator(schema, kube_version).iter_errors(obj)
    return [line for error in errors for line in _describe(error)] + cel_errors


def _builtin_errors(obj: dict, kube_version: str) -> list[str]:
    try:
        # kubernetes_validate stops at the first error; fix it and run again for the next.
        kubernetes_validate.validate(obj, kube_version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return _describe(e)
    except kubernetes_validate.SchemaNotFoundError:
        served = sorted(gv for gv, kind in crd_schemas() if kind == obj["kind"])
        hint = (f"the pinned CRD serves only {', '.join(served)}" if served else
                "check apiVersion and kind, or pin the operator's CRD in tests/k8s/schemas.py")
        return [f"(root): unknown apiVersion/kind {obj['apiVersion']} {obj['kind']}: neither "
                f"a Kubernetes {kube_version} built-in nor a pinned custom resource ({hint})"]
    return []


def _name_errors(meta) -> list[str]:
    name = meta.get("name") if isinstance(meta, dict) else None
    if not name:
        return ["metadata.name: missing; every object needs a name"]
    if not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return [f"metadata.name: {name!r} is not a DNS-1123 name (lowercase letters, digits, "
                "'-' and '.', starting and ending with a letter or digit, at most 253 long)"]
    return []


def validate_objects(objs: list[dict], kube_version: str = KUBE_VERSION,
                     skipped: list[str] | None = None) -> list[str]:
    """All errors in ``objs`` as ``Kind/name: dotted.path: message`` (empty when valid).

    ``skipped`` (if given) collects ``Kind/name: path: rule`` for each transition rule that
    applied but needs a live cluster.
    """
    _registry(kube_version)  # refuse an unsupported version before any object is judged
    schemas = crd_schemas()
    errors = []
    for i, obj in enumerate(objs):
        if not (isinstance(obj, dict) and isinstance(obj.get("apiVersion"), str)
                and isinstance(obj.get("kind"), str)):
            errors.append(f"object #{i + 1}: not a Kubernetes object (it needs string "
                          "apiVersion and kind)")
            continue
        meta = obj.get("metadata")
        where = f"{obj['kind']}/{meta.get('name') if isinstance(meta, dict) else None}"
        found = _name_errors(meta)
        schema = schemas.get((obj["apiVersion"], obj["kind"]))
        if schema is None:
            found += _builtin_errors(obj, kube_version)
        else:
            rules: list[str] = []
            found += custom_resource_errors(obj, schema, kube_version, rules)
            if skipped is not None:
                skipped += [f"{where}: {rule}" for rule in rules]
        errors += [f"{where}: {line}" for line in found]
    return errors


def validate_files(paths: Iterable[str | Path], kube_version: str = KUBE_VERSION,
                   skipped: list[str] | None = None) -> list[str]:
    """``validate_objects`` over multi-document YAML files, each error prefixed by its file."""
    errors = []
    for path in paths:
        try:
            docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]
        except yaml.YAMLError as e:
            errors.append(f"{path}: not valid YAML: {e}")
            continue
        if not docs:
            errors.append(f"{path}: holds no Kubernetes object")
        errors += [f"{path}: {e}" for e in validate_objects(docs, kube_version, skipped)]
    return errors
