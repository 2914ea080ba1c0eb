"""The proxy's certificate authority: made once, kept in a directory, and the leaf certificates
it signs for the Twilio hosts a client asks for.

The CA's certificate is what a client trusts (`REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`, a Java
truststore); its private key stays in the directory (mode 0600) and in this process, and is
never served. Leaf certificates live in memory only, one per host name, signed on first use.
Everything is built with `cryptography`; nothing here writes ASN.1 by hand.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import ssl
import stat
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTIFICATE_FILE = "ca.pem"  # what clients trust: the path the banner prints
KEY_FILE = "ca-key.pem"  # mode 0600, read by nobody but the fake
CA_NAME = "twilio-fake proxy CA (local testing only)"
CA_YEARS = 10
LEAF_DAYS = 365  # leaves are made afresh by every server process
CACHED_HOSTS = 64  # TLS contexts kept, one per host name; the oldest dropped first


class CertificateAuthorityError(Exception):
    """The CA's directory cannot be used: say which file and why, on one line."""


class CertificateAuthority:
    """The CA of a directory, created there on first use, and TLS contexts for host names."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).resolve()
        self.certificate_path = self.directory / CERTIFICATE_FILE
        self.key_path = self.directory / KEY_FILE
        self.certificate, self.key = self._load_or_create()
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()

    # -- the CA on disk --------------------------------------------------------------------------
    def _load_or_create(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with _locked(self.directory / ".lock"):
                if not self.key_path.exists() and not self.certificate_path.exists():
                    self._create()
                return self._load()
        except OSError as err:
            where = err.filename or self.directory
            raise CertificateAuthorityError(
                f"cannot use the proxy CA in {self.directory}: {where}: {err.strerror or err}"
            ) from None

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # The key first, created 0600 from the start (never readable by others, not even for a
        # moment); the certificate last, so that a certificate on disk always has its key.
        _write_new(self.key_path, key_pem, 0o600)
        _write_new(
            self.certificate_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )

    def _load(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        for path in (self.key_path, self.certificate_path):
            if not path.exists():
                raise CertificateAuthorityError(
                    f"the proxy CA in {self.directory} is incomplete: {path.name} is missing "
                    f"(delete the directory to make a new CA, and trust the new certificate)"
                )
        mode = stat.S_IMODE(self.key_path.stat().st_mode)
        if mode & 0o077:
            raise CertificateAuthorityError(
                f"the proxy CA's private key {self.key_path} is readable by others "
                f"(mode {mode:04o}): chmod 600 it"
            )
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
        except ValueError as err:
            raise CertificateAuthorityError(
                f"the proxy CA in {self.directory} cannot be read: {err}"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or (
            key.public_key().public_numbers() != certificate.public_key().public_numbers()  # type: ignore[union-attr]
        ):
            raise CertificateAuthorityError(
                f"the proxy CA in {self.directory}: {CERTIFICATE_FILE} does not match "
                f"{KEY_FILE} (delete the directory to make a new CA)"
            )
        return certificate, key

    # -- leaves ----------------------------------------------------------------------------------
    def context_for(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for `host`, signed by the CA."""
        context = self._contexts.get(host)
        if context is not None:
            self._contexts.move_to_end(host)
            return context
        context = self._new_context(host)
        self._contexts[host] = context
        if len(self._contexts) > CACHED_HOSTS:
            self._contexts.popitem(last=False)
        return context

    def _new_context(self, host: str) -> ssl.SSLContext:
        now = _now()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.certificate.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._leaf_key.public_key()), False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.certificate.public_bytes(
            serialization.Encoding.PEM
        )
        key = self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # ssl loads a certificate only from a file: a private one, removed at once.
        with tempfile.TemporaryDirectory(prefix="twilio-fake-leaf-") as scratch:
            chain_path, key_path = Path(scratch, "chain.pem"), Path(scratch, "key.pem")
            _write_new(chain_path, chain, 0o600)
            _write_new(key_path, key, 0o600)
            context.load_cert_chain(chain_path, key_path)
        return context


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock: two fakes starting on one directory make one CA, not two."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
