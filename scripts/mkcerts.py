#!/usr/bin/env python3
"""mkcerts.py - mint a local CA plus server and client certificates for secho.

Only the Python standard library and the 'cryptography' package are used.
Works with cryptography 38 (Debian 12's python3-cryptography) and newer.

Files written to the output directory (default: <repo>/certs):
    ca.pem  ca.key  server.pem  server.key  client.pem  client.key
Private keys are PEM/PKCS8, unencrypted, created with mode 0600.
Certificates are PEM, mode 0644.
"""

import argparse
import datetime
import ipaddress
import os
import secrets
import sys

PROG = "mkcerts"
SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(SCRIPT_DIR, "..", "certs"))

ALL_FILES = ("ca.pem", "ca.key", "server.pem", "server.key",
             "client.pem", "client.key")

CA_CN = "secho local CA"
ORG = "secho"
DEFAULT_HOST = "localhost"
DEFAULT_SAN = ("localhost", "127.0.0.1", "::1")
DEFAULT_CLIENT_CN = "secho client"
CLIENT_SAN_DNS = "secho-client"

# Backdate "now"-based notBefore a little to tolerate clock skew.
SKEW = datetime.timedelta(hours=1)

# Filled in by load_crypto().
x509 = hashes = serialization = ec = rsa = NameOID = ExtendedKeyUsageOID = None


class MkcertsError(Exception):
    """A user-facing error: printed as 'mkcerts: <msg>' and exit 1."""


def die(msg):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


def load_crypto():
    global x509, hashes, serialization, ec, rsa, NameOID, ExtendedKeyUsageOID
    try:
        from cryptography import x509 as _x509
        from cryptography.hazmat.primitives import hashes as _hashes
        from cryptography.hazmat.primitives import serialization as _ser
        from cryptography.hazmat.primitives.asymmetric import ec as _ec
        from cryptography.hazmat.primitives.asymmetric import rsa as _rsa
        from cryptography.x509.oid import NameOID as _NameOID
        from cryptography.x509.oid import ExtendedKeyUsageOID as _EKU
    except ImportError:
        raise MkcertsError(
            "the python3 'cryptography' module is missing; run 'make deps' "
            "(Debian package python3-cryptography)")
    x509, hashes, serialization = _x509, _hashes, _ser
    ec, rsa, NameOID, ExtendedKeyUsageOID = _ec, _rsa, _NameOID, _EKU


# ---------------------------------------------------------------- arguments

def parse_date(s, opt):
    try:
        d = datetime.datetime.strptime(s, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(
            "bad date %r for %s (expected YYYY-MM-DD)" % (s, opt))
    return d.replace(tzinfo=datetime.timezone.utc)


def positive_int(s):
    try:
        v = int(s, 10)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % s)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be > 0: %r" % s)
    return v


def rsa_bits(s):
    try:
        v = int(s, 10)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % s)
    if v < 2048 or v > 16384 or v % 8:
        raise argparse.ArgumentTypeError(
            "RSA key size must be a multiple of 8 between 2048 and 16384 "
            "(e.g. 2048, 3072, 4096): %r" % s)
    return v


class Parser(argparse.ArgumentParser):
    def error(self, message):
        die("%s (see --help)" % message)


def build_parser():
    p = Parser(
        prog="mkcerts.py",
        description="Mint a local CA and server/client certificates for "
                    "secho. Keys are ECDSA P-256 unless --rsa is given; "
                    "signatures use SHA-256.",
        epilog="Files: ca.pem ca.key server.pem server.key client.pem "
               "client.key. If all six exist nothing is done unless "
               "--force is given; if only some exist, all are re-created.")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help="output directory (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="re-create all files even if they already exist")
    p.add_argument("--only", choices=("server", "client"),
                   help="(re)mint only that leaf (server.pem/server.key or "
                        "client.pem/client.key), signed by the existing CA "
                        "in DIR; overwrites just those two files")
    p.add_argument("--host", metavar="NAME", action="append", default=[],
                   help="extra server name (repeatable); IP addresses become "
                        "IP SANs, anything else a DNS SAN. The first --host "
                        "is the server CN (default CN: localhost). SANs "
                        "localhost, 127.0.0.1 and ::1 are always included "
                        "unless --no-default-san")
    p.add_argument("--no-default-san", action="store_true",
                   help="leave localhost, 127.0.0.1 and ::1 out of the "
                        "server SAN (needs --host); e.g. --only server "
                        "--no-default-san --host wrong.example mints a "
                        "certificate that does not match localhost")
    p.add_argument("--client-cn", metavar="CN", default=DEFAULT_CLIENT_CN,
                   help="client certificate CN (default: %(default)s)")
    p.add_argument("--rsa", metavar="BITS", type=rsa_bits,
                   help="use RSA keys of BITS bits for all newly generated "
                        "keys instead of ECDSA P-256")
    p.add_argument("--days", metavar="N", type=positive_int, default=825,
                   help="leaf certificate validity in days "
                        "(default: %(default)s)")
    p.add_argument("--ca-days", metavar="N", type=positive_int, default=3650,
                   help="CA certificate validity in days "
                        "(default: %(default)s)")
    p.add_argument("--not-before", metavar="YYYY-MM-DD",
                   type=lambda s: parse_date(s, "--not-before"),
                   help="leaf notBefore (00:00:00 UTC that day); "
                        "server and client leaves only")
    p.add_argument("--not-after", metavar="YYYY-MM-DD",
                   type=lambda s: parse_date(s, "--not-after"),
                   help="leaf notAfter (00:00:00 UTC that day); server and "
                        "client leaves only, e.g. --not-before 2020-01-01 "
                        "--not-after 2020-02-01 for an expired certificate")
    return p


def leaf_validity(args, now):
    nb, na = args.not_before, args.not_after
    days = datetime.timedelta(days=args.days)
    if nb is None and na is None:
        nb, na = now - SKEW, now + days
    elif na is None:
        na = nb + days
    elif nb is None:
        nb = min(now - SKEW, na - days)
    if nb >= na:
        raise MkcertsError("--not-before (%s) must be earlier than "
                           "--not-after (%s)" % (nb.date(), na.date()))
    return nb, na


def server_names(hosts, default_san=True):
    """Validate server names without needing 'cryptography'.

    Return (cn, [(kind, value)...]) with kind "ip" (an ipaddress object)
    or "dns" (a str), duplicates removed, in order."""
    if not default_san and not hosts:
        raise MkcertsError("--no-default-san needs at least one --host")
    cn = hosts[0].strip() if hosts else DEFAULT_HOST
    sans, seen = [], set()
    for h in (list(DEFAULT_SAN) if default_san else []) + list(hosts):
        h = h.strip()
        if h.startswith("[") and h.endswith("]"):
            h = h[1:-1]
        if not h:
            raise MkcertsError("empty --host value")
        try:
            san = ("ip", ipaddress.ip_address(h))
        except ValueError:
            try:
                h.encode("ascii")
            except UnicodeEncodeError:
                raise MkcertsError("--host %r: non-ASCII host names must be "
                                   "given in punycode (xn--...)" % h)
            if any(c.isspace() or c in "/\\:@" for c in h):
                raise MkcertsError("--host %r: not a valid host name" % h)
            san = ("dns", h.rstrip(".").lower())
        if san not in seen:
            seen.add(san)
            sans.append(san)
    if cn.startswith("[") and cn.endswith("]"):
        cn = cn[1:-1]
    if len(cn) > 64:
        raise MkcertsError("--host %r: too long to be the certificate CN "
                           "(max 64 characters); give a shorter name first"
                           % cn)
    return cn, sans


def validate(args):
    """Check every option that can be checked without 'cryptography'."""
    server_names(args.host, not args.no_default_san)
    if not args.client_cn or len(args.client_cn) > 64:
        raise MkcertsError("--client-cn must be 1 to 64 characters")
    leaf_validity(args, datetime.datetime.now(datetime.timezone.utc))


# ---------------------------------------------------------------- crypto

def new_key(bits):
    if bits:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return ec.generate_private_key(ec.SECP256R1())


def key_desc(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA %d" % key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384",
                 "secp521r1": "P-521"}.get(key.curve.name, key.curve.name)
        return "ECDSA %s" % curve
    return type(key).__name__


def name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def key_bytes(key):
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption())


def cert_bytes(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(args, now):
    key = new_key(args.rsa)
    pub = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(pub)
    nb, na = now - SKEW, now + datetime.timedelta(days=args.ca_days)
    b = (x509.CertificateBuilder()
         .subject_name(name(CA_CN))
         .issuer_name(name(CA_CN))
         .public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(nb)
         .not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                        critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=False, content_commitment=False,
             key_encipherment=False, data_encipherment=False,
             key_agreement=False, key_cert_sign=True, crl_sign=True,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(ski, critical=False)
         .add_extension(
             x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                 ski), critical=False))
    cert = b.sign(private_key=key, algorithm=hashes.SHA256())
    desc = "%s, CN=%s, CA, valid to %s" % (key_desc(key), CA_CN, na.date())
    return key, cert, desc


def ca_aki(ca_cert):
    try:
        ski = ca_cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_cert.public_key())


def make_leaf(args, kind, ca_key, ca_cert, nb, na):
    key = new_key(args.rsa)
    pub = key.public_key()
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    if kind == "server":
        cn, pairs = server_names(args.host, not args.no_default_san)
        sans = [x509.IPAddress(v) if k == "ip" else x509.DNSName(v)
                for k, v in pairs]
        shown = [str(v) for _, v in pairs]
        eku = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        cn = args.client_cn
        sans, shown = [x509.DNSName(CLIENT_SAN_DNS)], [CLIENT_SAN_DNS]
        eku = ExtendedKeyUsageOID.CLIENT_AUTH
    b = (x509.CertificateBuilder()
         .subject_name(name(cn))
         .issuer_name(ca_cert.subject)
         .public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(nb)
         .not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                        critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=True, content_commitment=False,
             key_encipherment=is_rsa, data_encipherment=False,
             key_agreement=False, key_cert_sign=False, crl_sign=False,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
         .add_extension(x509.SubjectAlternativeName(sans), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub),
                        critical=False)
         .add_extension(ca_aki(ca_cert), critical=False))
    cert = b.sign(private_key=ca_key, algorithm=hashes.SHA256())
    desc = "%s, CN=%s, SAN %s, valid %sto %s" % (
        key_desc(key), cn, ",".join(shown),
        ("from %s " % nb.date()) if (args.not_before or args.not_after)
        else "", na.date())
    return key, cert, desc


def load_ca(out):
    paths = [os.path.join(out, f) for f in ("ca.pem", "ca.key")]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise MkcertsError("--only needs the existing CA, but %s %s missing; "
                           "run without --only first (make certs)"
                           % (" and ".join(display(p) for p in missing),
                              "is" if len(missing) == 1 else "are"))
    try:
        with open(paths[0], "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as e:
        raise MkcertsError("cannot load %s: %s" % (display(paths[0]), e))
    try:
        with open(paths[1], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise MkcertsError("cannot load %s: %s" % (display(paths[1]), e))
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise MkcertsError("%s: unsupported CA key type %s"
                           % (display(paths[1]), type(key).__name__))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if (key.public_key().public_bytes(der, spki)
            != cert.public_key().public_bytes(der, spki)):
        raise MkcertsError("%s does not match %s"
                           % (display(paths[1]), display(paths[0])))
    return key, cert


# ---------------------------------------------------------------- files

def display(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def write_temp(out, fname, data, private):
    """Write data to a fresh temp file in out; return its path."""
    mode = 0o600 if private else 0o644
    tmp = os.path.join(out, ".%s.tmp-%d-%s" % (fname, os.getpid(),
                                                secrets.token_hex(4)))
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        if not private:
            # Certificates are public: make them 0644 regardless of umask.
            os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    return tmp


def install(out, items):
    """items: [(fname, bytes, private, desc)]. All-or-nothing-ish:
    every file is fully written to a temp name first, then renamed."""
    temps = []
    try:
        for fname, data, private, _ in items:
            temps.append((write_temp(out, fname, data, private), fname))
        try:
            for tmp, fname in temps:
                os.replace(tmp, os.path.join(out, fname))
        except BaseException:
            # Some files may already be new and others old (mismatched
            # keys/CA). Remove the whole set so that the next run sees it
            # as incomplete and re-creates everything.
            for _, fname in temps:
                try:
                    os.unlink(os.path.join(out, fname))
                except OSError:
                    pass
            raise
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    try:
        dfd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    for fname, _, _, desc in items:
        print("certs: wrote %s (%s)" % (display(os.path.join(out, fname)),
                                        desc))


def ensure_dir(out):
    if os.path.exists(out) and not os.path.isdir(out):
        raise MkcertsError("%s exists and is not a directory" % display(out))
    try:
        os.makedirs(out, mode=0o755, exist_ok=True)
    except OSError as e:
        raise MkcertsError("cannot create directory %s: %s"
                           % (display(out), e.strerror or e))
    if not os.access(out, os.W_OK | os.X_OK):
        raise MkcertsError("directory %s is not writable" % display(out))


# ---------------------------------------------------------------- main

def run(argv):
    args = build_parser().parse_args(argv)
    out = os.path.abspath(args.out)
    validate(args)

    if args.only is None and not args.force and all(
            os.path.exists(os.path.join(out, f)) for f in ALL_FILES):
        print("certs: already present in %s (use --force to re-create)"
              % display(out))
        return 0

    load_crypto()
    now = datetime.datetime.now(datetime.timezone.utc)
    nb, na = leaf_validity(args, now)

    items = []
    if args.only:
        ca_key, ca_cert = load_ca(out)
        ensure_dir(out)
    else:
        ensure_dir(out)
        ca_key, ca_cert, desc = make_ca(args, now)
        items.append(("ca.pem", cert_bytes(ca_cert), False, desc))
        items.append(("ca.key", key_bytes(ca_key), True,
                      "%s private key, PKCS8, mode 0600" % key_desc(ca_key)))

    for kind in ("server", "client"):
        if args.only and args.only != kind:
            continue
        key, cert, desc = make_leaf(args, kind, ca_key, ca_cert, nb, na)
        items.append(("%s.pem" % kind, cert_bytes(cert), False, desc))
        items.append(("%s.key" % kind, key_bytes(key), True,
                      "%s private key, PKCS8, mode 0600" % key_desc(key)))

    try:
        install(out, items)
    except OSError as e:
        raise MkcertsError("cannot write to %s: %s"
                           % (display(out), e.strerror or e))
    return 0


def main(argv=None):
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except MkcertsError as e:
        die(str(e))
    except KeyboardInterrupt:
        die("interrupted")
    except (ValueError, TypeError) as e:
        die("error: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
