"""Configuration: one TOML file, overridden by ``RECORDER_SYNC_*`` environment variables.

With no file at all everything lives under one data folder (``RECORDER_SYNC_HOME``,
default: the per-user data folder): the SQLite database, the vault and the station key.
A bad value fails at start naming the file, the key and what was expected.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from recorder_sync.adapters.alert_settings import IMPLICIT_TLS_PORTS, AlertSettings
from recorder_sync.adapters.pkcs11_settings import Pkcs11Settings
from recorder_sync.adapters.s3settings import MiB, S3Settings
from recorder_sync.domain.access_report import AccessLimits, parse_office_hours
from recorder_sync.domain.errors import ConfigError
from recorder_sync.domain.layout import check_origin
from recorder_sync.domain.metrics import parse_listen
from recorder_sync.domain.model import ReleasePolicy, Severity
from recorder_sync.domain.naming import BUILTIN_PROFILES, NamingProfile
from recorder_sync.domain.policy import (
    DEFAULT_POLICY,
    ActionPolicy,
    DeadlineSettings,
    policy_from_config,
    settings_from_config,
)
from recorder_sync.domain.redact import redact_url
from recorder_sync.domain.timebounds import DEFAULT_BOUNDS, TimeBounds
from recorder_sync.domain.untrusted import shown, text_problem, to_utc
from recorder_sync.io.small_file import read_small_file

ENV = "RECORDER_SYNC_"
DEFAULT_TZ = "Asia/Shanghai"
OBSERVERS = ("inotify", "polling")
# machine-wide, outside every home: two homes on one dock must meet on the same lock
DEFAULT_LOCK_DIR = Path("/run/lock/recorder-sync")


@dataclass(frozen=True)
class DockConfig:
    name: str
    path: Path
    naming_profile: str = "auto"  # every known profile, first match wins
    timezone: str = DEFAULT_TZ
    observer: str = "inotify"
    stable_seconds: float = 5.0


@dataclass(frozen=True)
class LogSettings:
    """``[log]``: the custody log's signed checkpoints (``services.checkpoints``)."""

    origin: str = "recorder-sync/station"
    sign: bool = True  # this station holds the log key and signs checkpoints
    key_path: Path = Path("keys/log.key")
    checkpoint_seconds: float = 60.0


@dataclass(frozen=True)
class TimestampingSettings:
    """``[timestamping]``: RFC 3161 tokens over the published checkpoints (``services.timestamps``)."""

    tsa_url: str
    tsa_certs: Path  # PEM: the authority's chain / the root(s) its tokens must chain to
    timeout_seconds: float = 10.0


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
    s3: S3Settings | None = None
    # [deadlines] and [policy], checked with every other key (a bad one stops a command
    # before it opens anything)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    policy: Mapping[str, ActionPolicy] = field(default_factory=lambda: dict(DEFAULT_POLICY))
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    lock_dir: Path = DEFAULT_LOCK_DIR
    metadata_bounds: TimeBounds = DEFAULT_BOUNDS
    claim_seconds: float = 300.0  # lease on a row this daemon works (domain.claims)
    pkcs11: Pkcs11Settings | None = None  # [keys]: the station key in a token, not in key_path
    trust_file: Path | None = None  # trust anchors (domain.trust) replay checks copies against
    access_limits: AccessLimits = field(default_factory=AccessLimits)  # [replay]: access-report findings
    log: LogSettings = field(default_factory=LogSettings)
    timestamping: TimestampingSettings | None = None  # no [timestamping] tsa_url: no tokens
    metrics_listen: tuple[str, int] | None = None  # [metrics] listen: (host, port); None: off


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
            text = read_small_file(path).decode("utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(source, "-", "the configuration file does not exist") from None
        except OSError as e:  # a FIFO, a device, a folder, a link loop, no permission, too large
            raise ConfigError(source, "-", f"cannot read the configuration file: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(source, "-", f"not valid TOML: not UTF-8 text (byte {e.start})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(source, "-", f"not valid TOML: {e}") from None
    return _build(data, env, source)


def _secret_text(path: Path) -> str:
    """A secret from a file (systemd ``LoadCredential=``): a FIFO, a device or a folder there
    is refused instead of read for ever, and bytes that are not UTF-8 are an ``OSError`` too,
    so the caller names the key instead of failing with a traceback (the bytes never shown)."""
    try:
        return read_small_file(path).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise OSError(0, "not UTF-8 text") from None


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


def _number(
    raw: Any, source: str, key: str, low: float, high: float, unit: str = "", *, whole: bool = False
) -> float:
    """A finite number in ``low..high`` (a whole one if ``whole``), from the file (int or
    float) or the environment (text). The one check for every numeric setting: NaN or
    infinity would otherwise travel on and end in a traceback far from its cause."""
    expected = f"{'a whole number' if whole else 'a number'} ≥ {low:g} and ≤ {high:g}{unit}"
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError(source, key, f"expected {expected}, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(source, key, f"expected {expected}, got {raw!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(source, key, f"expected {expected}, got {raw!r}")
    if whole and (value != int(value) or (isinstance(raw, str) and not raw.strip().lstrip("+").isdigit())):
        raise ConfigError(source, key, f"expected {expected}, got {raw!r}")
    return value


def _whole(raw: Any, source: str, key: str, low: int, high: int, unit: str = "") -> int:
    return int(_number(raw, source, key, low, high, unit, whole=True))


DAY = 86400.0


def seconds_option(high: float = DAY) -> Callable[[str], float]:
    """An argparse ``type=`` for a duration option, checked like the file's keys: NaN,
    infinity or a negative number is a usage error (exit 2), not a traceback later."""

    def parse(text: str) -> float:
        try:
            return _number(text, "the command line", "-", 0, high, " s")
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e.args[2])) from None

    return parse


_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def _database_url(url: str, source: str, key: str) -> str:
    """``sqlite:///PATH`` or ``postgresql://USER@HOST[:PORT]/DB``; anything else would
    fail deep inside SQLAlchemy with a traceback."""
    expected = "expected sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        raise ConfigError(source, key, f"{expected}, got {redact_url(url)!r}") from None
    if parts.scheme == "sqlite":
        ok = url.startswith("sqlite:///") and len(url) > len("sqlite:///")
    else:
        ok = parts.scheme in _DATABASE_SCHEMES and bool(parts.netloc or len(parts.path) > 1)
    if not ok:
        raise ConfigError(source, key, f"{expected}, got {redact_url(url)!r}")
    return url


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
        "lock_dir",
        "metadata",
        "claim_seconds",
        "keys",
        "trust_file",
        "replay",
        "log",
        "timestamping",
        "metrics",
    }
    for key in data:
        if key not in known:
            raise ConfigError(source, key, f"unknown key; expected one of {', '.join(sorted(known))}")

    def setting(key: str, kind: type | tuple[type, ...]) -> Any:
        if ENV + key.upper() in env:
            return env[ENV + key.upper()]
        return _get(data, key, kind, source, "")

    def named(key: str) -> str:
        """The name the operator wrote: the environment variable when it was set there."""
        return ENV + key.upper() if ENV + key.upper() in env else key

    home = Path(setting("home", str) or default_home()).expanduser()
    station_id = setting("station_id", str) or socket.gethostname()
    # signed into every manifest and custody event, and printed by `status` and `health`: a
    # newline or terminal escape there would forge their lines (`healthy: station …`) for good
    problem = text_problem(station_id) or (None if station_id.strip() else "blank")
    if problem:
        raise ConfigError(
            source,
            named("station_id"),
            f"expected a name of printable characters, got {shown(station_id)}: {problem}",
        )
    database_url = _database_url(
        setting("database_url", str) or f"sqlite:///{home / 'recorder-sync.db'}",
        source,
        named("database_url"),
    )
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
    stable_seconds = 5.0 if stable is None else _number(stable, source, named("stable_seconds"), 0, DAY, " s")
    reconcile = setting("reconcile_seconds", (int, float))
    reconcile_seconds = (
        60.0 if reconcile is None else _number(reconcile, source, named("reconcile_seconds"), 0, DAY, " s")
    )
    workers_raw = setting("workers", int)
    workers = (
        2 if workers_raw is None else _whole(workers_raw, source, named("workers"), 1, 32, " files at once")
    )

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
        dock_stable = _get(d, "stable_seconds", (int, float), source, where)
        given = _get(d, "name", str, source, where)
        # custody subjects are `dock:NAME/PATH`: a '/' in a name would make dock 'a/b' file 'c'
        # and dock 'a' file 'b/c' one subject; control characters would forge output lines
        problem = (
            None
            if not given
            else text_problem(given)
            or ("contains '/'" if "/" in given else None if given.strip() else "blank")
        )
        if problem:
            raise ConfigError(
                source,
                where + "name",
                f"expected a name of printable characters without '/', got {shown(given)}: {problem}",
            )
        docks.append(
            DockConfig(
                name=given or Path(path).name or f"dock{i}",
                path=Path(path),
                naming_profile=_get(d, "naming_profile", str, source, where) or "auto",
                timezone=_tz(_get(d, "timezone", str, source, where) or timezone, source, where + "timezone"),
                observer=_get(d, "observer", str, source, where) or "inotify",
                stable_seconds=(
                    stable_seconds
                    if dock_stable is None
                    else _number(dock_stable, source, where + "stable_seconds", 0, DAY, " s")
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

    # work claims: how long a row stays ours without renewal (renewed every third of it), so
    # how soon another daemon sharing the database takes over the work of one that died
    claim_raw = setting("claim_seconds", (int, float))
    claim_seconds = (
        300.0 if claim_raw is None else _number(claim_raw, source, named("claim_seconds"), 1, DAY, " s")
    )

    lock_dir = Path(setting("lock_dir", str) or DEFAULT_LOCK_DIR).expanduser()
    if not lock_dir.is_absolute():
        # relative to each process's working folder, two processes would not meet on one lock
        raise ConfigError(source, "lock_dir", f"expected an absolute folder, got {str(lock_dir)!r}")
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
        pkcs11=_pkcs11(data, env, source),
        deadlines=settings_from_config(
            {"timezone": timezone} | (_get(data, "deadlines", dict, source, "") or {}), source=source
        ),
        policy=policy_from_config(_get(data, "policy", dict, source, "") or {}, source=source),
        raw=data,
        alerts=_alerts(data, env, source),
        lock_dir=lock_dir,
        metadata_bounds=_metadata(data, source),
        claim_seconds=claim_seconds,
        trust_file=Path(trust).expanduser() if (trust := setting("trust_file", str)) else None,
        access_limits=_replay(data, source),
        log=_log(data, env, source, station_id, key_path),
        timestamping=_timestamping(data, env, source),
        metrics_listen=_metrics(data, env, source),
    )


def _metrics(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> tuple[str, int] | None:
    """``[metrics] listen = "127.0.0.1:9464"`` (or ``RECORDER_SYNC_METRICS_LISTEN``): where ``run``
    serves Prometheus metrics; unset or empty: no endpoint."""
    section = _get(data, "metrics", dict, source, "") or {}
    for key in section:
        if key != "listen":
            raise ConfigError(source, f"metrics.{key}", "unknown key; expected listen")
    where, listen = "metrics.listen", section.get("listen")
    if ENV + "METRICS_LISTEN" in env:
        where, listen = ENV + "METRICS_LISTEN", env[ENV + "METRICS_LISTEN"]
    if listen in (None, ""):
        return None
    if not isinstance(listen, str):
        raise ConfigError(source, where, f'expected a string such as "127.0.0.1:9464", got {listen!r}')
    try:
        return parse_listen(listen)
    except ValueError as e:
        raise ConfigError(source, where, str(e)) from None


def _replay(data: Mapping[str, Any], source: str) -> AccessLimits:
    """``[replay]``: ``bulk_recordings_per_day`` and ``office_hours`` ("08:00-18:00", station time)."""
    section = _get(data, "replay", dict, source, "") or {}
    known = ("bulk_recordings_per_day", "office_hours")
    for key in section:
        if key not in known:
            raise ConfigError(source, f"replay.{key}", f"unknown key; expected {' or '.join(known)}")
    limits = AccessLimits()
    bulk = section.get("bulk_recordings_per_day")
    if bulk is not None:
        limits = replace(
            limits, bulk_per_day=_whole(bulk, source, "replay.bulk_recordings_per_day", 1, 10**6)
        )
    hours = _get(section, "office_hours", str, source, "replay.")
    if hours is not None:
        try:
            start, end = parse_office_hours(hours)
        except ValueError as e:
            raise ConfigError(source, "replay.office_hours", str(e)) from None
        limits = replace(limits, office_start=start, office_end=end)
    return limits


def _log(
    data: Mapping[str, Any], env: Mapping[str, str], source: str, station_id: str, station_key: Path
) -> LogSettings:
    """``[log]``: origin (default ``recorder-sync/<station_id>``), sign (default true), key_path
    (default ``log.key`` beside the station key), checkpoint_seconds (default 60); each also
    ``RECORDER_SYNC_LOG_<KEY>``."""
    section = dict(_get(data, "log", dict, source, "") or {})
    known = ("origin", "sign", "key_path", "checkpoint_seconds")
    for key in section:
        if key not in known:
            raise ConfigError(source, f"log.{key}", f"unknown key; expected one of {', '.join(known)}")
    where = {key: f"log.{key}" for key in known}
    for key in known:
        if ENV + "LOG_" + key.upper() in env:
            section[key] = env[ENV + "LOG_" + key.upper()]
            where[key] = ENV + "LOG_" + key.upper()
    origin = section.get("origin") or f"recorder-sync/{station_id}"
    if not isinstance(origin, str):
        raise ConfigError(source, where["origin"], f"expected a string, got {origin!r}")
    try:
        check_origin(origin)
    except ValueError as e:
        raise ConfigError(source, where["origin"], str(e)) from None
    sign = section.get("sign", True)
    if isinstance(sign, str) and sign.lower() in ("true", "false", "1", "0", "yes", "no"):
        sign = sign.lower() in ("true", "1", "yes")
    if not isinstance(sign, bool):
        raise ConfigError(source, where["sign"], f"expected true or false, got {sign!r}")
    key_path = section.get("key_path") or station_key.parent / "log.key"
    if not isinstance(key_path, (str, Path)):
        raise ConfigError(source, where["key_path"], f"expected a file path, got {key_path!r}")
    raw = section.get("checkpoint_seconds")
    seconds = 60.0 if raw is None else _number(raw, source, where["checkpoint_seconds"], 1, DAY, " s")
    return LogSettings(origin, sign, Path(key_path).expanduser(), seconds)


_TSA_ENV = {"tsa_url": "TSA_URL", "tsa_certs": "TSA_CERTS", "timeout_seconds": "TSA_TIMEOUT_SECONDS"}


def _timestamping(
    data: Mapping[str, Any], env: Mapping[str, str], source: str
) -> TimestampingSettings | None:
    """``[timestamping]``: tsa_url (http or https; none: no tokens), tsa_certs (a PEM file of the
    authority's certificates, required with tsa_url), timeout_seconds (default 10); each also
    ``RECORDER_SYNC_TSA_URL``, ``RECORDER_SYNC_TSA_CERTS``, ``RECORDER_SYNC_TSA_TIMEOUT_SECONDS``."""
    section = dict(_get(data, "timestamping", dict, source, "") or {})
    for key in section:
        if key not in _TSA_ENV:
            raise ConfigError(
                source, f"timestamping.{key}", f"unknown key; expected one of {', '.join(_TSA_ENV)}"
            )
    where = {key: f"timestamping.{key}" for key in _TSA_ENV}
    for key, name in _TSA_ENV.items():
        if ENV + name in env:
            section[key], where[key] = env[ENV + name], ENV + name
    url = section.get("tsa_url")
    if url in (None, ""):
        return None
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(source, where["tsa_url"], f"expected an http or https URL, got {url!r}")
    certs = section.get("tsa_certs")
    if not isinstance(certs, str) or not certs:
        raise ConfigError(
            source,
            where["tsa_certs"],
            "expected the PEM file of the authority's certificates (required with tsa_url)",
        )
    path = Path(certs).expanduser()
    try:
        pem = read_small_file(path)
    except OSError as e:
        raise ConfigError(source, where["tsa_certs"], f"{path}: {e.strerror or e}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(source, where["tsa_certs"], f"{path}: holds no PEM certificate")
    raw = section.get("timeout_seconds")
    timeout = 10.0 if raw is None else _number(raw, source, where["timeout_seconds"], 1, 600, " s")
    return TimestampingSettings(url, path, timeout)


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


_SEVERITIES = tuple(s.value for s in Severity)


def _alerts(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> AlertSettings:
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
    port_key = "alerts.smtp_port"
    if e + "SMTP_PORT" in env:
        section["smtp_port"] = env[e + "SMTP_PORT"]
        port_key = e + "SMTP_PORT"

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
            raise ConfigError(
                source, "alerts.webhooks", f"expected http:// or https:// URLs, got {redact_url(url)!r}"
            )
    default = AlertSettings()  # every default is the adapter's own
    port = _whole(section.get("smtp_port", default.smtp_port), source, port_key, 1, 65535)
    attempts = _whole(section.get("attempts", default.attempts), source, "alerts.attempts", 1, 100)
    backoff = _number(
        section.get("backoff_seconds", default.backoff), source, "alerts.backoff_seconds", 0, 3600, " s"
    )
    severity = str(section.get("min_severity", default.min_severity.value)).lower()
    if severity not in _SEVERITIES:
        raise ConfigError(
            source, "alerts.min_severity", f"expected one of {', '.join(_SEVERITIES)}, got {severity!r}"
        )
    password = section.get("smtp_password")
    if section.get("smtp_password_file"):
        try:
            password = _secret_text(Path(str(section["smtp_password_file"])))
        except OSError as err:
            raise ConfigError(
                source, "alerts.smtp_password_file", f"cannot read it: {err.strerror}"
            ) from None
    host = section.get("smtp_host")
    starttls = section.get("smtp_starttls", default.smtp_starttls)
    if not isinstance(starttls, bool):
        raise ConfigError(source, "alerts.smtp_starttls", f"expected true or false, got {starttls!r}")
    if (section.get("smtp_user") or password) and not starttls and port not in IMPLICIT_TLS_PORTS:
        # AUTH PLAIN/LOGIN sends the password in clear; on a plain connection anyone on
        # the path reads it.
        raise ConfigError(
            source,
            "alerts.smtp_starttls",
            f"refusing SMTP AUTH without TLS: set smtp_starttls = true, or use port 465 "
            f"(implicit TLS), or drop smtp_user/smtp_password (port is {port})",
        )
    return AlertSettings(
        webhooks=webhooks,
        smtp_host=str(host) if host else None,
        smtp_port=port,
        smtp_to=strings("smtp_to"),
        smtp_starttls=starttls,
        smtp_user=section.get("smtp_user"),
        smtp_password=password,
        min_severity=Severity(severity),
        attempts=attempts,
        backoff=backoff,
        smtp_from=str(section.get("smtp_from") or default.smtp_from),
    )


def _pkcs11(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> Pkcs11Settings | None:
    """``[keys] pkcs11_module``, ``pkcs11_token``, ``pkcs11_label`` and the user PIN, from
    ``pkcs11_pin_file`` (systemd ``LoadCredential=``) or ``RECORDER_SYNC_PKCS11_PIN``."""
    section = dict(_get(data, "keys", dict, source, "") or {})
    known = ("pkcs11_label", "pkcs11_module", "pkcs11_pin_file", "pkcs11_token")
    for key in section:
        if key not in known:
            raise ConfigError(source, f"keys.{key}", f"unknown key; expected one of {', '.join(known)}")
    for key in known:
        if ENV + key.upper() in env:
            section[key] = env[ENV + key.upper()]
        elif key in section and not isinstance(section[key], str):
            raise ConfigError(source, f"keys.{key}", f"expected a string, got {section[key]!r}")
    if not section.get("pkcs11_module"):
        return None
    pin = env.get(ENV + "PKCS11_PIN")
    if pin is None and section.get("pkcs11_pin_file"):
        try:
            pin = _secret_text(Path(section["pkcs11_pin_file"]))
        except OSError as e:
            raise ConfigError(source, "keys.pkcs11_pin_file", f"cannot read it: {e.strerror}") from None
    if not pin:
        raise ConfigError(
            source, "keys.pkcs11_pin_file", "the token's user PIN is needed (or RECORDER_SYNC_PKCS11_PIN)"
        )
    return Pkcs11Settings(
        module=Path(section["pkcs11_module"]),
        token=section.get("pkcs11_token") or "recorder-sync",
        label=section.get("pkcs11_label") or "station",
        pin=pin,
    )


def _s3(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> S3Settings | None:
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
            section["secret_key"] = _secret_text(Path(secret_file))
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
            source,
            "s3.endpoint",
            f"expected http://HOST:PORT or https://…, got {redact_url(str(section['endpoint']))!r}",
        )

    def named(key: str) -> str:
        return ENV + "S3_" + key.upper() if ENV + "S3_" + key.upper() in env else "s3." + key

    # only what the operator gave: every default is S3Settings' own
    given: dict[str, Any] = {
        key: section[key]
        for key in ("endpoint", "bucket", "access_key", "secret_key", "region", "ca_bundle", "verify")
        if section.get(key)
    }
    if "create_bucket" in section:
        given["create_bucket"] = bool(section["create_bucket"])
    if "retention_class" in section:
        given["default_retention_class"] = section["retention_class"]
    if "part_size_mib" in section:
        given["part_size"] = (
            _whole(section["part_size_mib"], source, named("part_size_mib"), 5, 5120, " MiB") * MiB
        )
    if "parallel_uploads" in section:
        given["parallel_uploads"] = _whole(
            section["parallel_uploads"], source, named("parallel_uploads"), 1, 64
        )
    retention = _get(section, "retention_days", dict, source, "s3.")
    if retention:
        given["retention_days"] = {
            name: _whole(days, source, f"s3.retention_days.{name}", 1, 36500, " days")
            for name, days in retention.items()
        }
    try:
        return S3Settings(**given)
    except ConfigError as e:  # the adapter's own checks: name the file and the key as written
        key = {"part_size": "part_size_mib", "default_retention_class": "retention_class"}.get(
            e.args[1], e.args[1]
        )
        raise ConfigError(source, named(key), e.args[2]) from None
