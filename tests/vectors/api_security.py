"""Test vectors for WeChat's server API security scheme (feature `api-security`),
computed with Python's `cryptography` (OpenSSL), not with the crate.

Rerun (only to make new vectors; the tests never run Python):

    pip install cryptography
    python3 tests/vectors/api_security.py > tests/vectors/api_security.json

The tests read the JSON this prints (tests/api_security.rs, include_str!).
Keys are fresh on every run, so a rerun changes every value at once.
"""
import base64
import datetime
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

b64 = lambda b: base64.b64encode(b).decode()


def pem_private(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def certificate(key, cn):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def canonical(obj):
    # serde_json's compact output with sorted keys (its default map).
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pss_sign(key, message):
    return b64(
        key.sign(
            message.encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    )


app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# The certificate WeChat rotates to: the fake WeChat signs with either.
platform2_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
aes_key = os.urandom(32)
appid = "wxba6223c06417af7b"
sym_sn = "fa05fe1e5bcc79b81ad5ad4b58acf787"
rsa_sn = "97845f6ed842ea860df6fdf65941ff56"
cert_sn = "5a9a2e6c7c1b1a3b5ce4a43ebf1e2d11"
urlpath = "https://api.weixin.qq.com/wxa/business/getuserphonenumber"

# Request: the crate's plaintext is the body with _n, _appid, _timestamp.
req_ts = 1700000000
req_iv = bytes(range(1, 13))
req_plain = canonical(
    {"code": "e31968a7f94cc5ee25fafc2aef2773f0", "_n": "nonce-0123456789abcdef", "_appid": appid, "_timestamp": req_ts}
)
req_aad = f"{urlpath}|{appid}|{req_ts}|{sym_sn}"
ct = AESGCM(aes_key).encrypt(req_iv, req_plain.encode(), req_aad.encode())
req_body = json.dumps(
    {"iv": b64(req_iv), "data": b64(ct[:-16]), "authtag": b64(ct[-16:])}, separators=(",", ":")
)
req_signature = pss_sign(app_key, f"{urlpath}\n{appid}\n{req_ts}\n{req_body}")

# Response: what WeChat answers, signed with the platform key.
resp_ts = 1700000003
resp_iv = bytes(range(21, 33))
resp_plain = canonical(
    {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {"phoneNumber": "13800138000", "countryCode": "86"},
        "_n": "resp-nonce-abcdef",
        "_appid": appid,
        "_timestamp": resp_ts,
    }
)
resp_aad = f"{urlpath}|{appid}|{resp_ts}|{sym_sn}"
ct = AESGCM(aes_key).encrypt(resp_iv, resp_plain.encode(), resp_aad.encode())
resp_body = json.dumps(
    {"iv": b64(resp_iv), "data": b64(ct[:-16]), "authtag": b64(ct[-16:])}, separators=(",", ":")
)
resp_signature = pss_sign(platform_key, f"{urlpath}\n{appid}\n{resp_ts}\n{resp_body}")

print(
    json.dumps(
        {
            "appid": appid,
            "urlpath": urlpath,
            "sym_sn": sym_sn,
            "sym_key": b64(aes_key),
            "rsa_sn": rsa_sn,
            "app_private_key": pem_private(app_key),
            "app_certificate": certificate(app_key, "app"),
            "cert_sn": cert_sn,
            "platform_certificate": certificate(platform_key, "platform"),
            "platform_private_key": pem_private(platform_key),
            "cert2_sn": "7e1c7d3f0b4b4d4aa1f0f2c3d4e5f601",
            "platform2_certificate": certificate(platform2_key, "platform2"),
            "platform2_private_key": pem_private(platform2_key),
            "request": {
                "timestamp": req_ts,
                "iv": b64(req_iv),
                "plaintext": req_plain,
                "aad": req_aad,
                "body": req_body,
                "signature": req_signature,
            },
            "response": {
                "timestamp": resp_ts,
                "plaintext": resp_plain,
                "body": resp_body,
                "signature": resp_signature,
            },
        },
        indent=2,
    )
)
