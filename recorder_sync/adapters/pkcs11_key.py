"""The station key in a PKCS#11 token (a smart card, an HSM, SoftHSM2), so that the private
key never exists as a file: ``[keys] pkcs11_module`` names the token's library.

The key is an Ed25519 pair (``CKK_EC_EDWARDS``, signed with ``CKM_EDDSA``) made inside the
token, sensitive and not extractable.  Everything else (manifests, key ids, ``keys
export-public``, verification with openssl) is the same as with a key file: the signature is
the same 64 raw bytes.  ``python-pkcs11`` is imported only when a token is configured.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from recorder_sync.adapters.pkcs11_settings import Pkcs11Settings
from recorder_sync.domain.errors import KeyProblem
from recorder_sync.domain.signatures import key_id

ED25519_OID = "1.3.101.112"


def _lib(settings: Pkcs11Settings) -> Any:
    try:
        import pkcs11
    except ImportError:
        raise KeyProblem(
            "[keys] pkcs11_module is set but python-pkcs11 is not installed: "
            "pip install 'recorder_sync[pkcs11]'"
        ) from None
    try:
        return pkcs11.lib(str(settings.module))
    except (RuntimeError, OSError, pkcs11.PKCS11Error) as e:
        raise KeyProblem(f"cannot load the PKCS#11 library {settings.module}: {e}") from None


def _session(settings: Pkcs11Settings, rw: bool = False) -> Any:
    import pkcs11

    lib = _lib(settings)
    try:
        token = lib.get_token(token_label=settings.token)
    except pkcs11.NoSuchToken:
        raise KeyProblem(f"no PKCS#11 token labelled {settings.token!r} in {settings.module}") from None
    except pkcs11.MultipleTokensReturned:
        raise KeyProblem(f"more than one PKCS#11 token is labelled {settings.token!r}") from None
    try:
        try:
            return token.open(user_pin=settings.pin, rw=rw)
        except pkcs11.UserAlreadyLoggedIn:
            # a login holds for every session of this process on the token (PKCS#11 §5.6)
            return token.open(rw=rw)
    except pkcs11.PinIncorrect:
        raise KeyProblem(f"the PIN of PKCS#11 token {settings.token!r} was refused") from None
    except pkcs11.PKCS11Error as e:
        raise KeyProblem(f"cannot open PKCS#11 token {settings.token!r}: {type(e).__name__}") from None


def _public_key(pub: Any) -> Ed25519PublicKey:
    import pkcs11

    point = bytes(pub[pkcs11.Attribute.EC_POINT])
    # CKA_EC_POINT is the raw 32 bytes wrapped in a DER OCTET STRING (04 20 …); some tokens omit it
    raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyProblem("the PKCS#11 key's public point is not an Ed25519 key") from None


class Pkcs11Signer:
    """``Signer`` whose private key stays in the token; one session, used by one thread at a time."""

    def __init__(self, settings: Pkcs11Settings) -> None:
        import pkcs11

        self.settings = settings
        self._session = _session(settings)
        self._lock = threading.Lock()
        try:
            self._private = self._session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY,
                key_type=pkcs11.KeyType.EC_EDWARDS,
                label=settings.label,
            )
            public = self._session.get_key(
                object_class=pkcs11.ObjectClass.PUBLIC_KEY,
                key_type=pkcs11.KeyType.EC_EDWARDS,
                label=settings.label,
            )
        except pkcs11.NoSuchKey:
            self._session.close()
            raise KeyProblem(
                f"no Ed25519 key labelled {settings.label!r} in PKCS#11 token {settings.token!r}; "
                "run: recorder-sync keys init"
            ) from None
        except pkcs11.MultipleObjectsReturned:
            self._session.close()
            raise KeyProblem(
                f"more than one key is labelled {settings.label!r} in PKCS#11 token {settings.token!r}"
            ) from None
        self._public = _public_key(public)
        self.key_id: str = key_id(self._public)

    def sign(self, data: bytes) -> bytes:
        import pkcs11

        where = f"key {self.settings.label!r} in PKCS#11 token {self.settings.token!r}"
        try:
            with self._lock:
                signature = bytes(self._private.sign(data, mechanism=pkcs11.Mechanism.EDDSA))
        except pkcs11.ObjectHandleInvalid:
            # keys rotate destroyed it while this process ran: the new key's label is read at start
            raise KeyProblem(
                f"the station {where} is gone (destroyed by keys rotate?): restart recorder-sync with the "
                "label of the station's new key"
            ) from None
        except pkcs11.PKCS11Error as e:
            raise KeyProblem(f"the station {where} did not sign: {type(e).__name__}") from None
        if len(signature) != 64:
            raise KeyProblem(f"the PKCS#11 token returned a {len(signature)}-byte signature, not 64")
        return signature

    def public_key_pem(self) -> bytes:
        return self._public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"Pkcs11Signer(key_id={self.key_id!r}, token={self.settings.token!r})"


def key_present(settings: Pkcs11Settings) -> bool:
    import pkcs11

    with _session(settings) as s:
        found = list(s.get_objects({pkcs11.Attribute.LABEL: settings.label}))
    return bool(found)


def _labels_of(session: Any, wanted: str) -> list[str]:
    """The labels of the token's Ed25519 public keys whose key id is ``wanted``."""
    import pkcs11

    publics = session.get_objects(
        {
            pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
            pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC_EDWARDS,
        }
    )
    return [str(pub[pkcs11.Attribute.LABEL]) for pub in publics if key_id(_public_key(pub)) == wanted]


def find_key(settings: Pkcs11Settings, wanted: str) -> Pkcs11Signer | None:
    """The token's Ed25519 key whose key id is ``wanted``, whatever its label (the key a
    replacement retires keeps its label in the token); None when the token has none."""
    with _session(settings) as s:
        labels = _labels_of(s, wanted)
    if len(labels) != 1:
        return None
    return Pkcs11Signer(dataclasses.replace(settings, label=labels[0]))


def destroy_key(settings: Pkcs11Settings, wanted: str) -> None:
    """Destroy the token's key pair whose key id is ``wanted`` (both objects of its label);
    the public key stays in the database, so what it signed still verifies."""
    import pkcs11

    with _session(settings, rw=True) as s:
        labels = _labels_of(s, wanted)
        if len(labels) != 1:
            raise KeyProblem(f"cannot destroy {wanted}: the token holds {len(labels)} keys with that id")
        pair = list(
            s.get_objects(
                {pkcs11.Attribute.LABEL: labels[0], pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.EC_EDWARDS}
            )
        )
        for obj in pair:
            obj.destroy()


def create_key(settings: Pkcs11Settings) -> Pkcs11Signer:
    """Generate the key pair inside the token: private part sensitive, never extractable."""
    import pkcs11
    from pkcs11.util.ec import encode_named_curve_parameters

    if key_present(settings):
        raise KeyProblem(f"PKCS#11 token {settings.token!r} already holds a key labelled {settings.label!r}")
    with _session(settings, rw=True) as s:
        params = s.create_domain_parameters(
            pkcs11.KeyType.EC_EDWARDS,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        params.generate_keypair(
            store=True,
            label=settings.label,
            private_template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
                pkcs11.Attribute.SIGN: True,
            },
        )
    return Pkcs11Signer(settings)
