//! Feeds arbitrary bytes to the callback path a server exposes to the
//! network: envelope parsing, signature check, decryption and push parsing.
#![no_main]

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use weixin::{sha1_sorted, Message, MessageCrypto};

const TOKEN: &str = "t0ken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, KEY, APP_ID)
        .and_then(|c| c.previous_key("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"))
        .expect("fixed keys are valid")
}

/// The 32-byte key WeChat derives from `KEY`.
fn raw_key() -> [u8; 32] {
    let mut padded = KEY.to_string();
    padded.push('=');
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    // ok because KEY is a fixed, valid 43-character key
    engine.decode(padded).unwrap().try_into().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let crypto = crypto();
    match mode % 4 {
        // Untrusted XML and JSON straight into the push parsers (plain
        // mode).
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = Message::parse(text);
                let _ = Message::parse_json(text);
            }
        }
        // An untrusted body (an XML or a JSON envelope) with a correct
        // signature over whatever its Encrypt field holds: envelope
        // parsing, base64, decryption.
        1 => {
            if let Ok(body) = std::str::from_utf8(rest) {
                let _ = crypto.decrypt("0", "1", "n", body);
                let envelope = Message::parse(body).or_else(|_| Message::parse_json(body));
                if let Ok(message) = envelope {
                    if let Some(encrypted) = message.field("Encrypt") {
                        let sig = sha1_sorted(&[TOKEN, "1", "n", encrypted]);
                        if let Ok(text) = crypto.decrypt(&sig, "1", "n", body) {
                            let _ = Message::parse(&text);
                            let _ = Message::parse_json(&text);
                        }
                    }
                }
            }
        }
        // Arbitrary plaintext encrypted under the real key, so the padding,
        // length field, appid and UTF-8 checks all see hostile input.
        2 => {
            let mut plaintext = rest.to_vec();
            plaintext.truncate(plaintext.len() / 16 * 16);
            if plaintext.is_empty() {
                return;
            }
            let key = raw_key();
            let len = plaintext.len();
            cbc::Encryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
                .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
                // ok because the plaintext was cut to whole blocks above
                .unwrap();
            let encrypted = STANDARD.encode(&plaintext);
            let sig = sha1_sorted(&[TOKEN, "1", "n", &encrypted]);
            if let Ok(text) = crypto.decrypt_encrypted(&sig, "1", "n", &encrypted) {
                let _ = Message::parse(&text);
                let _ = Message::parse_json(&text);
            }
        }
        // Any reply must survive an encrypt/decrypt round trip unchanged.
        _ => {
            if let Ok(reply) = std::str::from_utf8(rest) {
                // Every unwrap below is the property under test: a failure
                // is the bug the fuzzer is looking for.
                let envelope = crypto.encrypt(reply, "1", "n").unwrap();
                let sig = Message::parse(&envelope)
                    .unwrap()
                    .field("MsgSignature")
                    .unwrap()
                    .to_string();
                assert_eq!(crypto.decrypt(&sig, "1", "n", &envelope).unwrap(), reply);
            }
        }
    }
});
