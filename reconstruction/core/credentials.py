"""Content Credentials (C2PA) for reconstructions: Flux signs what it changed, and reads it back.

A reconstruction is signed with a C2PA manifest whose claim says it is an edit of the original
photo: the original is the parent ingredient (``c2pa.opened``), every model that changed the image
adds one ``c2pa.edited`` action with the IPTC digital source type for trained algorithmic media,
and Flux's own assertion (``org.flux.reconstruction``) carries the record the caller fills (element
degrees, intention, targets, the edits left out and why, the preview). A shot where no model
changed anything says so with an ``org.flux.original_kept`` action instead.

Each installation is its own certificate authority (``authority``): a root it trusts when reading,
and a signing certificate that root issued. A deployment with a certificate from a real CA uses
``Authority.from_files``. ``read`` checks the signature, the hard binding (the hash over the image
bytes) and that the signer chains to the trust anchors given, and reports what the manifest says.

The C2PA library (c2pa-python, over the Rust SDK) is imported inside the functions that use it:
importing this module does not load the SDK.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import io
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RECORD_LABEL = "org.flux.reconstruction"
# C2PA lets an entity name its own actions in its own namespace; none of the standard ones says
# "looked, and changed nothing" (c2pa.unknown claims an unknown change was made).
ORIGINAL_KEPT = "org.flux.original_kept"
EDITED = "c2pa.edited"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR = "Flux"

ROOT_CERT, ROOT_KEY = "root.pem", "root.key"
SIGNER_CERT, SIGNER_KEY = "signer.pem", "signer.key"
CHAIN = "chain.pem"
AUTHORITY_FILES = (ROOT_CERT, ROOT_KEY, SIGNER_CERT, SIGNER_KEY, CHAIN)
# Offline signing has no timestamp, so a manifest validates only while its signing certificate is
# within its validity: hence long lives, a signer of ten years under a root of twenty.
ROOT_LIFETIME = datetime.timedelta(days=20 * 365)
SIGNER_LIFETIME = datetime.timedelta(days=10 * 365)
CLOCK_SKEW = datetime.timedelta(hours=1)  # a reader whose clock lags a little still sees a valid certificate
ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


class CredentialsError(RuntimeError):
    """The authority's files are unusable, or a manifest could not be signed."""


@dataclass(frozen=True)
class Edit:
    """One model's change to the photo: the ``c2pa.edited`` action it becomes."""

    group: str  # the model's element group ("eyes", "expression", ...)
    version: int  # the model's version
    degrees: dict[str, tuple[float, float]]  # element → (before, after)
    description: str


@dataclass(frozen=True)
class Authority:
    """A signing certificate chain with its private key, and the trust anchors that validate it."""

    chain_pem: str  # the signing certificate first, then the certificates that issued it
    key_pem: str = field(repr=False)
    trust_anchors_pem: str | None  # the root(s) a reader must trust for this signer to be valid
    alg: str = "es256"

    @classmethod
    def from_files(cls, chain_pem: Path, key_pem: Path, trust_pem: Path | None, alg: str = "es256") -> Authority:
        """A deployment's own chain, e.g. one a public CA issued, instead of the installation's CA."""
        try:
            chain = Path(chain_pem).read_text()
            key = Path(key_pem).read_text()
            trust = Path(trust_pem).read_text() if trust_pem is not None else None
        except OSError as exc:
            raise CredentialsError(f"cannot read the signing credentials: {exc}") from exc
        return _checked(cls(chain_pem=chain, key_pem=key, trust_anchors_pem=trust, alg=alg.lower()), str(chain_pem))

    @property
    def signer_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem.encode())[0]


@dataclass
class Credentials:
    """What a JPEG's Content Credentials say, and whether they can be believed."""

    state: str  # "valid", "invalid" or "none" (no manifest)
    signer: str | None = None  # common name of the signing certificate
    issuer: str | None = None  # common name of the certificate that issued it
    actions: list[dict] = field(default_factory=list)
    ingredients: list[dict] = field(default_factory=list)
    record: dict | None = None  # the org.flux.reconstruction assertion's data
    kept_original: bool = False
    codes: list[str] = field(default_factory=list)  # the failing validation status codes
    errors: list[str] = field(default_factory=list)
    manifest_json: str | None = None  # the library's own report, unedited


# --- the installation's certificate authority ---------------------------------------------------


def authority(folder: Path, name: str = "Flux") -> Authority:
    """This installation's authority, created in ``folder`` on first use and reused ever after.

    A new root would leave every file signed before untrusted, so the files are never replaced:
    a folder holding only some of them, or ones that do not belong together, is an error to
    resolve by hand.
    """
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(folder):
        present = [n for n in AUTHORITY_FILES if (folder / n).exists()]
        if not present:
            _create(folder, name)
        elif len(present) < len(AUTHORITY_FILES):
            missing = ", ".join(n for n in AUTHORITY_FILES if n not in present)
            raise CredentialsError(
                f"the certificate authority in {folder} is incomplete (missing {missing}); restore the "
                "files, or move the folder aside to create a new authority (files signed by the old "
                "one will then no longer be trusted)"
            )
        return _load(folder)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Two workers starting at once must not each create a root."""
    fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _name(org: str, common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    name: str, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, x509.Certificate, ec.EllipticCurvePrivateKey]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(GENERATOR, f"{name} root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + ROOT_LIFETIME)
        # path length 0: this root issues signers only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    # The C2PA certificate profile: v3, digitalSignature as a critical key usage, an extended key
    # usage from its list (emailProtection is the one every validator accepts), never self-signed.
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(GENERATOR, name))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SIGNER_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return root, root_key, signer, signer_key


def _create(folder: Path, name: str) -> None:
    root, root_key, signer, signer_key = _issue(name, datetime.datetime.now(datetime.UTC))

    def cert(c: x509.Certificate) -> bytes:
        return c.public_bytes(serialization.Encoding.PEM)

    def key(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    # The root key stays (0600) so a signer can be reissued under the same root, keeping old files trusted.
    _write(folder / ROOT_KEY, key(root_key), 0o600)
    _write(folder / SIGNER_KEY, key(signer_key), 0o600)
    _write(folder / ROOT_CERT, cert(root), 0o644)
    _write(folder / SIGNER_CERT, cert(signer), 0o644)
    _write(folder / CHAIN, cert(signer) + cert(root), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Written beside and renamed: a crash leaves the file whole or absent, never half-written.
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)


def _load(folder: Path) -> Authority:
    try:
        root = x509.load_pem_x509_certificate((folder / ROOT_CERT).read_bytes())
        root_key = serialization.load_pem_private_key((folder / ROOT_KEY).read_bytes(), password=None)
        signer = x509.load_pem_x509_certificate((folder / SIGNER_CERT).read_bytes())
        chain = x509.load_pem_x509_certificates((folder / CHAIN).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise CredentialsError(f"the certificate authority in {folder} is corrupt: {exc}") from exc
    if not _same_key(root_key.public_key(), root.public_key()):
        raise CredentialsError(f"{folder / ROOT_KEY} does not belong to {folder / ROOT_CERT}")
    if [c.fingerprint(hashes.SHA256()) for c in chain] != [c.fingerprint(hashes.SHA256()) for c in (signer, root)]:
        raise CredentialsError(f"{folder / CHAIN} is not {SIGNER_CERT} followed by {ROOT_CERT}")
    try:
        signer.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CredentialsError(f"{folder / SIGNER_CERT} was not issued by {folder / ROOT_CERT}") from exc
    found = Authority(
        chain_pem=(folder / CHAIN).read_text(),
        key_pem=(folder / SIGNER_KEY).read_text(),
        trust_anchors_pem=(folder / ROOT_CERT).read_text(),
    )
    return _checked(found, str(folder))


def _checked(found: Authority, where: str) -> Authority:
    """Refuse now what would otherwise fail, less clearly, at the first signature."""
    if found.alg not in ALGORITHMS:
        raise CredentialsError(f"unknown signing algorithm {found.alg!r}; C2PA allows {', '.join(ALGORITHMS)}")
    try:
        certificate = found.signer_certificate
        key = serialization.load_pem_private_key(found.key_pem.encode(), password=None)
    except (ValueError, TypeError, IndexError) as exc:
        raise CredentialsError(f"the signing credentials in {where} are corrupt: {exc}") from exc
    if not _same_key(key.public_key(), certificate.public_key()):
        raise CredentialsError(f"the private key in {where} does not belong to its signing certificate")
    if certificate.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise CredentialsError(
            f"the signing certificate in {where} expired on {certificate.not_valid_after_utc:%Y-%m-%d}; "
            "files signed with it no longer validate without a timestamp"
        )
    return found


def _same_key(one, other) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return one.public_bytes(*spki) == other.public_bytes(*spki)


# --- signing ------------------------------------------------------------------------------------


def _flux_version() -> str | None:
    try:
        return version("flux")
    except PackageNotFoundError:
        return None


def _software_agent() -> dict:
    agent = {"name": GENERATOR}
    if found := _flux_version():
        agent["version"] = found
    return agent


def _action(edit: Edit) -> dict:
    degrees = {}
    for element, (before, after) in edit.degrees.items():
        if not (math.isfinite(before) and math.isfinite(after)):
            raise ValueError(f"{edit.group}: degree {element} is not a finite number ({before} → {after})")
        # Objects, not [before, after]: the SDK's JSON report shows an array of numbers as bytes.
        degrees[element] = {"before": float(before), "after": float(after)}
    return {
        "action": EDITED,
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": _software_agent(),
        "description": edit.description,
        "parameters": {"group": edit.group, "version": int(edit.version), "degrees": degrees},
    }


def _kept_action() -> dict:
    return {
        "action": ORIGINAL_KEPT,
        "softwareAgent": _software_agent(),
        "description": "No model changed the photo: this is the original, kept.",
        "parameters": {"kept_original": True},
    }


def sign(
    reconstruction_jpeg: bytes,
    original_jpeg: bytes,
    edits: list[Edit],
    record: dict,
    authority: Authority,
    tsa_url: str | None = None,
) -> bytes:
    """The reconstruction with a signed manifest embedded: an edit of ``original_jpeg`` by ``edits``.

    ``record`` must survive JSON as it is (it is stored and read back as JSON data); ``tsa_url``
    names an RFC 3161 timestamp authority, or None to sign offline without a timestamp.
    """
    import c2pa

    if not isinstance(record, dict):
        raise TypeError(f"record must be a dict, not {type(record).__name__}")
    try:
        json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record is not JSON data: {exc}") from exc
    actions = [_action(edit) for edit in edits] or [_kept_action()]
    definition = {
        "claim_generator_info": [_software_agent()],
        "title": "reconstruction.jpg",
        "format": "image/jpeg",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": RECORD_LABEL, "data": record},
        ],
    }
    settings = {
        # Thumbnails (the claim's and the ingredient's) would put two more copies of the face in
        # every file: measured at 640×480, about 70 KB and 80 ms a shot, against 4 KB and 3 ms.
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    info = c2pa.C2paSignerInfo(authority.alg, authority.chain_pem.encode(), authority.key_pem.encode(), tsa_url)
    try:
        with (
            c2pa.Context.from_dict(settings) as context,
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(definition, context=context) as builder,
        ):
            # The edit intent makes the SDK add c2pa.opened, linked to the parent, as the first
            # action, which the specification requires of an edit.
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            builder.add_ingredient(
                {"title": "original.jpg", "format": "image/jpeg", "relationship": "parentOf"},
                "image/jpeg",
                io.BytesIO(original_jpeg),
            )
            signed = io.BytesIO()
            builder.sign(signer, "image/jpeg", io.BytesIO(reconstruction_jpeg), signed)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"the manifest could not be signed: {exc}") from exc
    return signed.getvalue()


# --- reading ------------------------------------------------------------------------------------


def read(jpeg: bytes, trust_anchors_pem: str | None) -> Credentials:
    """The Content Credentials in ``jpeg``, validated against ``trust_anchors_pem``.

    "valid" needs the claim signature to verify, the hash over the image to match, and the signer
    to chain to one of the trust anchors; without trust anchors nothing is "valid". A manifest that
    cannot even be parsed is "invalid", never an exception.
    """
    import c2pa

    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    if trust_anchors_pem:
        # Else the SDK reports unreadable anchors as if the manifest were broken.
        try:
            x509.load_pem_x509_certificates(trust_anchors_pem.encode())
        except ValueError as exc:
            raise ValueError(f"the trust anchors are not PEM certificates: {exc}") from exc
    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors_pem:
        # trust_anchors, not user_anchors: only these roots, none the SDK would add.
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create("image/jpeg", io.BytesIO(jpeg), None, context)
            if reader is None:
                return Credentials(state="none")
            with reader:
                report_json, cr_json = reader.json(), reader.crjson()
    except c2pa.C2paError as exc:
        return Credentials(state="invalid", errors=[f"the manifest cannot be read: {exc}"])
    return _interpret(report_json, cr_json, trusted=bool(trust_anchors_pem))


def _interpret(report_json: str, cr_json: str, trusted: bool) -> Credentials:
    report = json.loads(report_json)
    label = report.get("active_manifest")
    manifest = report.get("manifests", {}).get(label)
    if manifest is None:
        return Credentials(state="invalid", errors=["no active manifest"], manifest_json=report_json)
    results = report.get("validation_results")
    # Older SDKs report one flat list instead.
    failures = results.get("activeManifest", {}).get("failure", []) if results else report.get("validation_status", [])
    codes = [f["code"] for f in failures]
    errors = [f"{f['code']}: {f.get('explanation', '')}".rstrip(": ") for f in failures]
    # The SDK says "Valid" of a sound manifest whose signer it does not trust; only "Trusted" will do.
    state = report.get("validation_state")
    valid = trusted and state == "Trusted" and not failures
    if not trusted:
        errors.append("no trust anchors were given, so no signer can be trusted")
    elif not valid and not failures:
        errors.append(f"the SDK's validation state is {state!r}")

    # crJSON renders assertion data as it was stored; the report above shows a JSON array of
    # numbers as a base64 byte string, which would corrupt the record.
    cr_manifest = next((m for m in json.loads(cr_json).get("manifests", []) if m.get("label") == label), None)
    assertions = (
        cr_manifest["assertions"]
        if cr_manifest
        else {a["label"]: a.get("data") for a in manifest.get("assertions", [])}
    )
    actions = [
        action
        for name, data in assertions.items()
        if name.split("__")[0] in ("c2pa.actions", "c2pa.actions.v2")
        for action in (data or {}).get("actions", [])
    ]
    names = {a.get("action") for a in actions}
    certificate = (cr_manifest or {}).get("signature", {}).get("certificateInfo", {})
    signature_info = manifest.get("signature_info", {})
    return Credentials(
        state="valid" if valid else "invalid",
        signer=certificate.get("subject", {}).get("CN") or signature_info.get("common_name"),
        issuer=certificate.get("issuer", {}).get("CN"),
        actions=actions,
        ingredients=manifest.get("ingredients", []),
        record=assertions.get(RECORD_LABEL),
        kept_original=ORIGINAL_KEPT in names and EDITED not in names,
        codes=codes,
        errors=errors,
        manifest_json=report_json,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconstruction.core.credentials")
    commands = parser.add_subparsers(dest="command", required=True)
    reading = commands.add_parser("read", help="print a JPEG's Content Credentials as JSON")
    reading.add_argument("file", type=Path)
    reading.add_argument("--trust", type=Path, help="PEM file of trust anchors (e.g. the installation's root.pem)")
    reading.add_argument("--full", action="store_true", help="include the SDK's whole report")
    args = parser.parse_args(argv)
    found = read(args.file.read_bytes(), args.trust.read_text() if args.trust else None)
    shown = asdict(found)
    if not args.full:
        shown.pop("manifest_json")
    json.dump(shown, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0 if found.state == "valid" else 1


if __name__ == "__main__":
    sys.exit(main())
