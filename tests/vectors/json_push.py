#!/usr/bin/env python3
"""Vectors for tests/callback_json.rs, computed apart from the crate.

WeChat's documented algorithm (WXBizMsgCrypt), written here from the
documentation with the `cryptography` package, shares no code with the
crate: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = the key's
first 16 bytes, plaintext = 16 random bytes + 4-byte big-endian length +
message + appid, PKCS#7 padding to a multiple of 32 bytes; msg_signature
= sha1 of the sorted token, timestamp, nonce and Encrypt.

The test pastes this script's output; it never runs Python. To rerun:

    pip install cryptography
    python3 tests/vectors/json_push.py

The output must be what the constants in tests/callback_json.rs say.
"""
import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TOKEN = "mini-token"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx52b3c0a1d8e7f406"


def aes_key(encoding_aes_key):
    return base64.b64decode(encoding_aes_key + "=")


def encrypt(encoding_aes_key, appid, random16, message):
    key = aes_key(encoding_aes_key)
    body = message.encode("utf-8")
    plain = random16 + struct.pack(">I", len(body)) + body + appid.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def decrypt(encoding_aes_key, encrypted):
    key = aes_key(encoding_aes_key)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode("utf-8"), plain[20 + length :].decode()


def signature(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# WeChat's own example (mini program message push, safe mode, JSON): the
# documented values must come out of this code too.
doc_key = "A" * 43
doc_encrypt = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPx"
    "LKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMu"
    "FUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDr"
    "M1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)
assert signature("AAAAA", "1714112445", "415670741", doc_encrypt) == "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
message, appid = decrypt(doc_key, doc_encrypt)
assert appid == "wxba5fad812f8e6fb9"
print("doc push plaintext:", message)
doc_reply = encrypt(doc_key, "wxba5fad812f8e6fb9", b"707722b803182950", '{"demo_resp":"good luck"}')
assert doc_reply == "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
assert signature("AAAAA", "1713424427", "415670741", doc_reply) == "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"

# Vector 1: a user's text, numbers as JSON numbers.
text = compact({
    "ToUserName": "gh_mini",
    "FromUserName": "o_user",
    "CreateTime": 1700000000,
    "MsgType": "text",
    "Content": "你好 \"json\" </xml>",
    "MsgId": 6054768590064713728,
})
# Vector 2: a subscription popup event, numbers as strings, a list.
popup = compact({
    "ToUserName": "gh_mini",
    "FromUserName": "o_user",
    "CreateTime": "1700000001",
    "MsgType": "event",
    "Event": "subscribe_msg_popup_event",
    "List": [
        {"TemplateId": "tpl-1", "SubscribeStatusString": "accept", "PopupScene": "0"},
        {"TemplateId": "tpl-2", "SubscribeStatusString": "reject", "PopupScene": "0"},
    ],
})
for name, message, random16, timestamp in [
    ("TEXT", text, b"0123456789abcdef", "1700000000"),
    ("POPUP", popup, b"fedcba9876543210", "1700000001"),
]:
    encrypted = encrypt(KEY, APPID, random16, message)
    assert decrypt(KEY, encrypted) == (message, APPID)
    print(f"{name}_PLAIN = {message}")
    print(f"{name}_ENCRYPT = {encrypted}")
    print(f"{name}_MSG_SIGNATURE = {signature(TOKEN, timestamp, 'n0nce', encrypted)}")

# Vector 3: a reply sealed with a known random prefix, for the test's own
# decryptor to open: the crate's replies are random, the test's reader is
# checked on this one.
reply = compact({
    "ToUserName": "o_user",
    "FromUserName": "gh_mini",
    "CreateTime": 1700000000,
    "MsgType": "transfer_customer_service",
    "TransInfo": {"KfAccount": "kf2001@gh_mini"},
})
encrypted = encrypt(KEY, APPID, b"RRRRRRRRRRRRRRRR", reply)
print(f"REPLY_PLAIN = {reply}")
print(f"REPLY_ENCRYPT = {encrypted}")
print(f"REPLY_MSG_SIGNATURE = {signature(TOKEN, '1700000000', 'n0nce', encrypted)}")
