"""The object store: the lake's buckets, their versioning and retention, through the ``minio``
SDK (the design's client).

One code path serves MinIO (the chart's ``objectStore.provider: minio``) and any other S3
endpoint (``external``: AWS, Ceph, moto in tests): only S3 calls both understand are made.
When the lake is a local directory the buckets are sub-directories of it and versioning and
lifecycle do not apply. Which bucket holds what, and why each is versioned or not: docs/lake.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import InvalidResponseError, S3Error
from minio.lifecycleconfig import (Expiration, LifecycleConfig, NoncurrentVersionExpiration,
                                   Rule)
from minio.versioningconfig import OFF, VersioningConfig

from retail.settings import LakeSettings, SettingsError

ENDPOINT_VAR = "RETAIL_LAKE__S3_ENDPOINT"
KEY_VARS = "RETAIL_LAKE__S3_ACCESS_KEY and RETAIL_LAKE__S3_SECRET_KEY"
# The IDs of the lifecycle rules this module owns; rules with other IDs are an operator's and
# are kept as they are.
EXPIRE_RULE = "retail-expire-objects"
NONCURRENT_RULE = "retail-expire-noncurrent-versions"
_CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                      "InvalidToken", "ExpiredToken"}


class ObjectStoreError(RuntimeError):
    """The object store could not be reached or refused a call; the message says which setting
    to check."""


@dataclass(frozen=True)
class BucketPolicy:
    """What one bucket should be: versioned or not, and how many days objects live."""

    role: str  # raw, processed, models, features
    name: str
    versioned: bool
    expire_days: int | None  # None: current objects never expire
    noncurrent_days: int | None  # versioned buckets: days an overwritten version is kept

    def rules(self) -> list[Rule]:
        """The lifecycle rules this policy asks for, on the whole bucket."""
        rules = []
        if self.expire_days:
            rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=EXPIRE_RULE,
                              expiration=Expiration(days=self.expire_days)))
        if self.noncurrent_days:
            rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=NONCURRENT_RULE,
                              noncurrent_version_expiration=NoncurrentVersionExpiration(
                                  noncurrent_days=self.noncurrent_days)))
        return rules


def bucket_policies(settings: LakeSettings) -> list[BucketPolicy]:
    """The design's buckets with the versioning and retention the settings give them."""
    keep = settings.noncurrent_retention_days
    return [
        BucketPolicy("raw", settings.raw_bucket, False, settings.raw_retention_days, None),
        BucketPolicy("processed", settings.processed_bucket, True,
                     settings.processed_retention_days, keep),
        BucketPolicy("models", settings.models_bucket, True, None, keep),
        BucketPolicy("features", settings.features_bucket, False,
                     settings.features_retention_days, None),
    ]


def describe_rule(rule: Rule) -> str:
    """One short line per lifecycle rule, e.g. ``expire after 90 d``."""
    parts = []
    if rule.expiration and rule.expiration.days:
        parts.append(f"expire after {rule.expiration.days} d")
    if rule.noncurrent_version_expiration:
        parts.append(f"old versions after {rule.noncurrent_version_expiration.noncurrent_days} d")
    prefix = rule.rule_filter.prefix if rule.rule_filter else None
    where = f" under {prefix!r}" if prefix else ""
    owner = "" if rule.rule_id in (EXPIRE_RULE, NONCURRENT_RULE) else f" [{rule.rule_id}]"
    return (", ".join(parts) or "other action") + where + owner + (
        "" if rule.status == ENABLED else " (disabled)")


def connect(settings: LakeSettings) -> Minio:
    """A client for the endpoint in ``settings``; missing or contradictory settings raise
    :class:`SettingsError` naming the environment variable."""
    if not settings.s3_endpoint:
        raise SettingsError(f"{ENDPOINT_VAR} is required for the object store (e.g. "
                            "http://minio.<namespace>.svc, https://s3.<region>.amazonaws.com)")
    missing = [var for var, value in (("RETAIL_LAKE__S3_ACCESS_KEY", settings.s3_access_key),
                                      ("RETAIL_LAKE__S3_SECRET_KEY", settings.s3_secret_key))
               if value is None or not value.get_secret_value()]
    if missing:
        raise SettingsError(f"{' and '.join(missing)} required for the object store at "
                            f"{settings.s3_endpoint} (the chart mounts them from its Secret)")
    url = urlsplit(settings.s3_endpoint if "://" in settings.s3_endpoint
                   else f"{'https' if settings.s3_tls else 'http'}://{settings.s3_endpoint}")
    if url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/"):
        raise SettingsError(f"{ENDPOINT_VAR} must be http(s)://host[:port] without a path, "
                            f"got {settings.s3_endpoint!r}")
    if (url.scheme == "https") != settings.s3_tls:
        raise SettingsError(f"{ENDPOINT_VAR} is {url.scheme}:// but RETAIL_LAKE__S3_TLS is "
                            f"{str(settings.s3_tls).lower()}: make them agree")
    # Fewer, quicker retries than the SDK's default (5, with 5-minute timeouts) so that a wrong
    # endpoint fails in about a second instead of hanging.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=60), maxsize=10, cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=2, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))
    return Minio(url.netloc, access_key=settings.s3_access_key.get_secret_value(),
                 secret_key=settings.s3_secret_key.get_secret_value(),
                 secure=url.scheme == "https", region=settings.s3_region, http_client=http)


@dataclass
class BucketState:
    """A bucket as the store has it."""

    policy: BucketPolicy
    exists: bool
    versioning: str = OFF  # Enabled, Suspended or Off
    rules: list[Rule] = field(default_factory=list)

    @property
    def needs_versioning(self) -> bool:
        return self.policy.versioned and self.versioning != ENABLED

    @property
    def needs_rules(self) -> bool:
        ours = [r for r in self.rules if r.rule_id in (EXPIRE_RULE, NONCURRENT_RULE)]
        return _rule_keys(ours) != _rule_keys(self.policy.rules())

    def changes(self) -> list[str]:
        """What ``init`` would change to bring the bucket to its policy (empty: nothing)."""
        todo = [] if self.exists else ["create"]
        if self.needs_versioning:
            todo.append("enable versioning")
        if self.needs_rules:
            todo.append("set lifecycle: " + (
                ", ".join(describe_rule(r) for r in self.policy.rules()) or "none"))
        return todo

    def others(self) -> list[Rule]:
        return [r for r in self.rules if r.rule_id not in (EXPIRE_RULE, NONCURRENT_RULE)]


def _rule_keys(rules: list[Rule]) -> list[tuple]:
    return sorted(((r.rule_id or "", r.status, r.rule_filter, r.expiration,
                    r.noncurrent_version_expiration, r.transition,
                    r.noncurrent_version_transition, r.abort_incomplete_multipart_upload)
                   for r in rules), key=lambda key: key[0])


def _call(endpoint: str, what: str, fn, *args):
    """``fn(*args)``, with transport and S3 errors turned into one line naming the setting."""
    try:
        return fn(*args)
    except S3Error as exc:
        hint = (f"check {KEY_VARS}" if exc.code in _CREDENTIAL_ERRORS
                else "check the bucket settings RETAIL_LAKE__*_BUCKET")
        raise ObjectStoreError(f"object store at {endpoint} refused {what}: {exc.code}: "
                               f"{exc.message} ({hint})") from None
    except (urllib3.exceptions.HTTPError, InvalidResponseError, OSError) as exc:
        raise ObjectStoreError(f"cannot reach the object store at {endpoint} for {what} "
                               f"(check {ENDPOINT_VAR} and RETAIL_LAKE__S3_TLS): "
                               f"{str(exc).splitlines()[0][:300]}") from None
    except ValueError as exc:  # the SDK's parser refusing a reply (e.g. a rule it cannot read)
        raise ObjectStoreError(f"object store at {endpoint}: cannot read {what}: {exc}") from None


def read_state(client: Minio, policy: BucketPolicy, where: str) -> BucketState:
    """The bucket's existence, versioning and lifecycle rules (``where``: for messages)."""
    name = policy.name
    if not _call(where, f"HEAD bucket {name}", client.bucket_exists, name):
        return BucketState(policy, exists=False)
    versioning = _call(where, f"the versioning of {name}", client.get_bucket_versioning, name)
    lifecycle = _call(where, f"the lifecycle of {name}", client.get_bucket_lifecycle, name)
    return BucketState(policy, True, versioning.status_string,
                       list(lifecycle.rules) if lifecycle else [])


@dataclass
class BucketReport:
    """One bucket after ``init``: what was done (empty: it was already as designed)."""

    name: str
    role: str
    done: list[str]
    versioning: str
    lifecycle: list[str]


@dataclass
class InitReport:
    location: str  # endpoint or directory
    buckets: list[BucketReport]
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(b.done for b in self.buckets)


def init_buckets(settings: LakeSettings, client: Minio | None = None) -> InitReport:
    """Create the design's buckets where they are missing and bring versioning and lifecycle to
    the policy; running it again changes nothing. Locally (``root`` a directory) the buckets are
    ``<root>/<bucket>/`` directories.

    Args:
        settings: the lake settings (bucket names, retention days, endpoint and keys).
        client: a ready client (tests); by default one from ``settings``.
    """
    if not settings.is_s3:
        return _init_directories(settings)
    client = client or connect(settings)
    where = str(settings.s3_endpoint)
    reports, notes = [], []
    for policy in bucket_policies(settings):
        state = read_state(client, policy, where)
        todo = state.changes()
        if not state.exists:
            _call(where, f"creating bucket {policy.name}", client.make_bucket, policy.name,
                  settings.s3_region)
        if state.needs_versioning:
            _call(where, f"versioning on {policy.name}", client.set_bucket_versioning,
                  policy.name, VersioningConfig(ENABLED))
        rules = state.others() + policy.rules()
        if state.needs_rules:
            if rules:
                _call(where, f"the lifecycle of {policy.name}", client.set_bucket_lifecycle,
                      policy.name, LifecycleConfig(rules))
            else:
                _call(where, f"the lifecycle of {policy.name}",
                      client.delete_bucket_lifecycle, policy.name)
        versioning = ENABLED if policy.versioned else state.versioning
        if not policy.versioned and versioning != OFF:
            notes.append(f"{policy.name}: versioning is {versioning}, left as is (its policy "
                         "does not ask for it; suspending it is an operator's choice)")
        reports.append(BucketReport(policy.name, policy.role, todo, versioning,
                                    [describe_rule(r) for r in rules]))
    return InitReport(where, reports, notes)


def _init_directories(settings: LakeSettings) -> InitReport:
    root = Path(settings.root).expanduser().resolve()
    reports = []
    for policy in bucket_policies(settings):
        path = root / policy.name
        done = [] if path.is_dir() else ["create"]
        path.mkdir(parents=True, exist_ok=True)
        reports.append(BucketReport(policy.name, policy.role, done, "n/a", []))
    return InitReport(str(root), reports, [
        "a local directory: versioning and lifecycle (retention) do not apply; "
        "they are set when RETAIL_LAKE__ROOT is s3://..."])


@dataclass
class BucketStatus:
    """A bucket for ``retail lake status``: its state, what ``init`` would change, its size."""

    state: BucketState
    pending: list[str]
    objects: int
    size: int
    truncated: bool  # counted up to the limit only


def bucket_status(settings: LakeSettings, client: Minio | None = None,
                  max_objects: int = 10_000) -> tuple[str, list[BucketStatus]]:
    """Where the buckets are and each bucket's status; objects are counted up to
    ``max_objects`` per bucket (listing is one request per 1,000 objects)."""
    if not settings.is_s3:
        root = Path(settings.root).expanduser().resolve()
        out = []
        for policy in bucket_policies(settings):
            path = root / policy.name
            state = BucketState(policy, path.is_dir(), "n/a")
            files = (f for f in path.rglob("*") if f.is_file()) if state.exists else iter(())
            out.append(_counted(state, [] if state.exists else ["create"],
                                (f.stat().st_size for f in files), max_objects))
        return str(root), out
    client = client or connect(settings)
    where = str(settings.s3_endpoint)
    out = []
    for policy in bucket_policies(settings):
        state = read_state(client, policy, where)
        sizes = (o.size or 0 for o in client.list_objects(policy.name, recursive=True)) \
            if state.exists else iter(())
        out.append(_call(where, f"listing {policy.name}", _counted, state, state.changes(),
                         sizes, max_objects))
    return where, out


def _counted(state: BucketState, pending: list[str], sizes, limit: int) -> BucketStatus:
    objects = size = 0
    for one in sizes:
        if objects == limit:
            return BucketStatus(state, pending, objects, size, truncated=True)
        objects, size = objects + 1, size + one
    return BucketStatus(state, pending, objects, size, truncated=False)
