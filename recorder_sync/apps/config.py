"""Configuration: one TOML file, overridden by ``RECORDER_SYNC_*`` environment variables.

With no file at all everything lives under one data folder (``RECORDER_SYNC_HOME``,
default: the per-user data folder): the SQLite database, the vault and the station key.
A bad value fails at start naming the file, the key and what was expected.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.model import ReleasePolicy
from recorder_sync.domain.naming import BUILTIN_PROFILES, NamingProfile
from recorder_sync.domain.untrusted import DEFAULT_BOUNDS, TimeBounds, to_utc

ENV = "RECORDER_SYNC_"
DEFAULT_TZ = "Asia/Shanghai"
OBSERVERS = ("inotify", "polling")


@dataclass(frozen=True)
class DockConfig:
    name: str
    path: Path
    naming_profile: str = "auto"  # every known profile, first match wins
    timezone: str = DEFAULT_TZ
    observer: str = "inotify"
    stable_seconds: float = 5.0


@dataclass(frozen=True)
class S3Config:
    endpoint: str
    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    ca_bundle: str | None = None
    create_bucket: bool = True
    part_size_mib: int = 16
    parallel_uploads: int = 4
    retention_days: Mapping[str, int] = field(default_factory=lambda: {"ordinary": 180, "evidence": 3650})
    retention_class: str = "ordinary"
    verify: str = "full"


@dataclass(frozen=True)
class AlertsConfig:
    webhooks: tuple[str, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "recorder-sync@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    min_severity: str = "medium"
    attempts: int = 5
    backoff_seconds: float = 1.0


@dataclass(frozen=True)
class Settings:
    source: str
    home: Path
    station_id: str
    database_url: str
    vault_path: Path
    key_path: Path
    release_policy: ReleasePolicy
    docks: tuple[DockConfig, ...]
    naming_profiles: Mapping[str, NamingProfile]
    reconcile_seconds: float = 60.0
    stable_seconds: float = 5.0
    workers: int = 2
    timezone: str = DEFAULT_TZ
    s3: S3Config | None = None
    deadlines: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    metadata_bounds: TimeBounds = DEFAULT_BOUNDS


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("recorder-sync", appauthor=False))


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    if path is None and env.get(ENV + "CONFIG"):
        path = Path(env[ENV + "CONFIG"])
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(source, "-", "the configuration file does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(source, "-", f"not valid TOML: {e}") from None
    return _build(data, env, source)


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], source: str, where: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(source, where + key, f"expected {names}, got {value!r}")
    return value


def _tz(name: str, source: str, key: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            source, key, f"expected an IANA time zone such as 'Asia/Shanghai', got {name!r}"
        ) from None
    return name


def _number(raw: str, source: str, key: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(source, key, f"expected a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(source, key, f"expected a number ≥ 0, got {raw!r}")
    return value


def _build(data: dict[str, Any], env: Mapping[str, str], source: str) -> Settings:
    known = {
        "station_id",
        "home",
        "database_url",
        "vault_path",
        "key_path",
        "release_policy",
        "timezone",
        "stable_seconds",
        "reconcile_seconds",
        "docks",
        "naming_profiles",
        "s3",
        "deadlines",
        "policy",
        "alerts",
        "workers",
        "metadata",
    }
    for key in data:
        if key not in known:
            raise ConfigError(source, key, f"unknown key; expected one of {', '.join(sorted(known))}")

    def setting(key: str, kind: type | tuple[type, ...]) -> Any:
        if ENV + key.upper() in env:
            return env[ENV + key.upper()]
        return _get(data, key, kind, source, "")

    home = Path(setting("home", str) or default_home()).expanduser()
    station_id = setting("station_id", str) or socket.gethostname()
    database_url = setting("database_url", str) or f"sqlite:///{home / 'recorder-sync.db'}"
    vault_path = Path(setting("vault_path", str) or home / "vault").expanduser()
    key_path = Path(setting("key_path", str) or home / "keys" / "station.key").expanduser()
    policy_text = setting("release_policy", str) or ReleasePolicy.DELETE.value
    try:
        release_policy = ReleasePolicy(policy_text)
    except ValueError:
        raise ConfigError(
            source, "release_policy", f"expected 'delete' or 'keep', got {policy_text!r}"
        ) from None
    timezone = _tz(setting("timezone", str) or DEFAULT_TZ, source, "timezone")
    stable = setting("stable_seconds", (int, float))
    stable_seconds = _number(str(stable), source, "stable_seconds") if stable is not None else 5.0
    reconcile = setting("reconcile_seconds", (int, float))
    reconcile_seconds = (
        _number(str(reconcile), source, "reconcile_seconds") if reconcile is not None else 60.0
    )

    workers_raw = setting("workers", int)
    workers = int(_number(str(workers_raw), source, "workers")) if workers_raw is not None else 2
    if not 1 <= workers <= 32:
        raise ConfigError(source, "workers", f"expected 1 to 32 files worked on at once, got {workers_raw!r}")

    profiles = dict(BUILTIN_PROFILES)
    for name, spec in (_get(data, "naming_profiles", dict, source, "") or {}).items():
        where = f"naming_profiles.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("pattern"), str):
            raise ConfigError(source, where + ".pattern", "expected a regular expression with named groups")
        try:
            NamingProfile(name, spec["pattern"]).compiled()
        except Exception as e:
            raise ConfigError(source, where + ".pattern", f"not a valid regular expression: {e}") from None
        profiles[name] = NamingProfile(name, spec["pattern"])

    docks: list[DockConfig] = []
    for i, d in enumerate(_get(data, "docks", list, source, "") or []):
        where = f"docks[{i}]."
        if not isinstance(d, dict):
            raise ConfigError(source, f"docks[{i}]", "expected a table with at least 'path'")
        path = _get(d, "path", str, source, where)
        if not path:
            raise ConfigError(source, where + "path", "expected the dock's folder (mount point)")
        docks.append(
            DockConfig(
                name=_get(d, "name", str, source, where) or Path(path).name or f"dock{i}",
                path=Path(path),
                naming_profile=_get(d, "naming_profile", str, source, where) or "auto",
                timezone=_tz(_get(d, "timezone", str, source, where) or timezone, source, where + "timezone"),
                observer=_get(d, "observer", str, source, where) or "inotify",
                stable_seconds=float(
                    _get(d, "stable_seconds", (int, float), source, where) or stable_seconds
                ),
            )
        )
    if ENV + "DOCKS" in env:
        docks = [
            DockConfig(name=Path(p).name or p, path=Path(p), timezone=timezone, stable_seconds=stable_seconds)
            for p in env[ENV + "DOCKS"].split(os.pathsep)
            if p
        ]
    names: set[str] = set()
    for i, dock in enumerate(docks):
        if dock.naming_profile != "auto" and dock.naming_profile not in profiles:
            choices = ", ".join(["auto", *sorted(profiles)])
            raise ConfigError(
                source,
                f"docks[{i}].naming_profile",
                f"expected one of {choices}, got {dock.naming_profile!r}",
            )
        if dock.observer not in OBSERVERS:
            raise ConfigError(
                source, f"docks[{i}].observer", f"expected 'inotify' or 'polling', got {dock.observer!r}"
            )
        if dock.name in names:
            raise ConfigError(source, f"docks[{i}].name", f"dock name {dock.name!r} is used twice")
        names.add(dock.name)

    return Settings(
        source=source,
        home=home,
        station_id=station_id,
        database_url=database_url,
        vault_path=vault_path,
        key_path=key_path,
        release_policy=release_policy,
        docks=tuple(docks),
        naming_profiles=profiles,
        reconcile_seconds=reconcile_seconds,
        stable_seconds=stable_seconds,
        workers=workers,
        timezone=timezone,
        s3=_s3(data, env, source),
        deadlines=_get(data, "deadlines", dict, source, "") or {},
        policy=_get(data, "policy", dict, source, "") or {},
        raw=data,
        alerts=_alerts(data, env, source),
        metadata_bounds=_metadata(data, source),
    )


def _metadata(data: Mapping[str, Any], source: str) -> TimeBounds:
    """``[metadata]``: ``earliest`` and ``latest``, the span in which camera times are believed
    (a TOML date is midnight UTC; a date-time needs its UTC offset)."""
    section = _get(data, "metadata", dict, source, "") or {}
    for key in section:
        if key not in ("earliest", "latest"):
            raise ConfigError(source, f"metadata.{key}", "unknown key; expected earliest or latest")

    def bound(key: str, default: datetime) -> datetime:
        raw = section.get(key, default)
        value = raw
        if isinstance(raw, str):
            try:
                value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
            except ValueError:
                value = None
        if isinstance(value, datetime):
            aware = to_utc(value, UTC) if value.tzinfo is not None else None
            if aware is not None:
                return aware
        elif isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=UTC)
        raise ConfigError(
            source, f"metadata.{key}", f"expected a date (2000-01-01) or a date-time with offset, got {raw!r}"
        )

    try:
        return TimeBounds(bound("earliest", DEFAULT_BOUNDS.earliest), bound("latest", DEFAULT_BOUNDS.latest))
    except ValueError as e:
        raise ConfigError(source, "metadata", str(e)) from None


_SEVERITIES = ("info", "low", "medium", "high", "critical")


def _alerts(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> AlertsConfig:
    """``[alerts]``: webhooks (list of URLs), smtp_host, smtp_port, smtp_from, smtp_to (list),
    smtp_starttls, smtp_user, smtp_password (or smtp_password_file), min_severity, attempts,
    backoff_seconds.  Env: ``RECORDER_SYNC_ALERT_WEBHOOKS`` (space-separated URLs),
    ``…_ALERT_SMTP_HOST``, ``…_ALERT_SMTP_PORT``, ``…_ALERT_SMTP_FROM``, ``…_ALERT_SMTP_TO``
    (comma-separated), ``…_ALERT_SMTP_PASSWORD_FILE``, ``…_ALERT_MIN_SEVERITY``."""
    section = dict(_get(data, "alerts", dict, source, "") or {})
    known = {
        "webhooks",
        "smtp_host",
        "smtp_port",
        "smtp_from",
        "smtp_to",
        "smtp_starttls",
        "smtp_user",
        "smtp_password",
        "smtp_password_file",
        "min_severity",
        "attempts",
        "backoff_seconds",
    }
    for key in section:
        if key not in known:
            raise ConfigError(
                source, f"alerts.{key}", f"unknown key; expected one of {', '.join(sorted(known))}"
            )
    e = ENV + "ALERT_"
    if e + "WEBHOOKS" in env:
        section["webhooks"] = env[e + "WEBHOOKS"].split()
    if e + "SMTP_TO" in env:
        section["smtp_to"] = [a.strip() for a in env[e + "SMTP_TO"].split(",") if a.strip()]
    for key in ("smtp_host", "smtp_from", "smtp_user", "min_severity", "smtp_password_file"):
        if e + key.upper() in env:
            section[key] = env[e + key.upper()]
    if e + "SMTP_PORT" in env:
        section["smtp_port"] = env[e + "SMTP_PORT"]

    def strings(key: str) -> tuple[str, ...]:
        value = section.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(source, f"alerts.{key}", f"expected a list of strings, got {value!r}")
        return tuple(value)

    webhooks = strings("webhooks")
    for url in webhooks:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(source, "alerts.webhooks", f"expected http:// or https:// URLs, got {url!r}")
    try:
        port = int(section.get("smtp_port", 25))
        attempts = int(section.get("attempts", 5))
        backoff = float(section.get("backoff_seconds", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(
            source, "alerts", "smtp_port and attempts must be integers, backoff_seconds a number"
        ) from None
    severity = str(section.get("min_severity", "medium")).lower()
    if severity not in _SEVERITIES:
        raise ConfigError(
            source, "alerts.min_severity", f"expected one of {', '.join(_SEVERITIES)}, got {severity!r}"
        )
    password = section.get("smtp_password")
    if section.get("smtp_password_file"):
        try:
            password = Path(str(section["smtp_password_file"])).read_text().strip()
        except OSError as err:
            raise ConfigError(
                source, "alerts.smtp_password_file", f"cannot read it: {err.strerror}"
            ) from None
    host = section.get("smtp_host")
    return AlertsConfig(
        webhooks=webhooks,
        smtp_host=str(host) if host else None,
        smtp_port=port,
        smtp_from=str(section.get("smtp_from") or "recorder-sync@localhost"),
        smtp_to=strings("smtp_to"),
        smtp_starttls=bool(section.get("smtp_starttls", False)),
        smtp_user=section.get("smtp_user"),
        smtp_password=password,
        min_severity=severity,
        attempts=max(1, attempts),
        backoff_seconds=max(0.0, backoff),
    )


def _s3(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> S3Config | None:
    section = dict(_get(data, "s3", dict, source, "") or {})
    for key in (
        "endpoint",
        "bucket",
        "access_key",
        "secret_key",
        "region",
        "ca_bundle",
        "verify",
        "part_size_mib",
        "parallel_uploads",
    ):
        if ENV + "S3_" + key.upper() in env:
            section[key] = env[ENV + "S3_" + key.upper()]
    secret_file = section.pop("secret_key_file", None) or env.get(ENV + "S3_SECRET_KEY_FILE")
    if secret_file:
        # systemd LoadCredential= puts secrets in files; read, never log
        try:
            section["secret_key"] = Path(secret_file).read_text().strip()
        except OSError as e:
            raise ConfigError(
                source, "s3.secret_key_file", f"cannot read {secret_file}: {e.strerror}"
            ) from None
    if not section.get("endpoint"):
        return None
    for key in ("bucket", "access_key", "secret_key"):
        if not section.get(key):
            raise ConfigError(source, f"s3.{key}", "required when s3.endpoint is set")
    if not str(section["endpoint"]).startswith(("http://", "https://")):
        raise ConfigError(
            source, "s3.endpoint", f"expected http://HOST:PORT or https://…, got {section['endpoint']!r}"
        )
    retention = section.get("retention_days") or {"ordinary": 180, "evidence": 3650}
    return S3Config(
        endpoint=section["endpoint"],
        bucket=section["bucket"],
        access_key=section["access_key"],
        secret_key=section["secret_key"],
        region=section.get("region") or "us-east-1",
        ca_bundle=section.get("ca_bundle"),
        create_bucket=bool(section.get("create_bucket", True)),
        part_size_mib=int(section.get("part_size_mib", 16)),
        parallel_uploads=int(section.get("parallel_uploads", 4)),
        retention_days=retention,
        retention_class=section.get("retention_class", "ordinary"),
        verify=section.get("verify", "full"),
    )
