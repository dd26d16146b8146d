"""Which PKCS#11 token holds the station key (``[keys]``): the settings type of
``adapters.pkcs11_key``, apart from it so that reading the configuration imports neither
``python-pkcs11`` nor ``cryptography``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Pkcs11Settings:
    module: Path  # the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    token: str  # the token's label
    label: str  # the key pair's label inside the token
    pin: str = field(repr=False)
