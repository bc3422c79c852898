//! WeChat's callback message encryption (WXBizMsgCrypt): AES-256-CBC under
//! the EncodingAESKey, with a `msg_signature` over the ciphertext.
//!
//! Plaintext layout: 16 random bytes, the message length as 4 bytes
//! big-endian, the message, the appid; then PKCS#7 padding to a multiple of
//! 32 bytes (not the 16 of the AES block, so the padding is checked here
//! rather than by the cipher crate).

use std::fmt;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::callback::{sha1_sorted, verify_sorted};
use crate::error::{CallbackErrorKind, Error, Result};
use crate::message::{cdata, json_error, parse_fields, parse_json_fields, JsonWriter, PushFormat};
use crate::secret::Secret;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// WeChat pads to multiples of 32 bytes, twice the AES block.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LENGTH_FIELD_LEN: usize = 4;

/// The EncodingAESKey is 43 base64 characters whose last one carries 2 bits
/// that are not part of the 32-byte key. WeChat's keys (including the
/// documented example key) leave those bits set, so a strict decoder would
/// refuse valid keys.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encrypts replies to and decrypts pushes from WeChat in encrypted ("safe")
/// mode, for one official account or third-party platform.
///
/// Built from the server token, the EncodingAESKey and the appid (the
/// component appid for a third-party platform). During a key change, add the
/// previous EncodingAESKey with [`MessageCrypto::previous_key`]: decryption
/// falls back to it, encryption always uses the current key.
///
/// `Debug` shows the appid only; the token and keys print `[redacted]`.
///
/// # Example
///
/// ```
/// use weixin::{Message, MessageCrypto};
///
/// # fn env(name: &str, example: &str) -> String {
/// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
/// # }
/// let token = env("WECHAT_TOKEN", "t0ken");
/// let key = env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
/// let crypto = MessageCrypto::new(token, key, "wxb11529c136998cb6")?;
///
/// let envelope = crypto.encrypt("<xml><Content>hi</Content></xml>", "1409304348", "nonce")?;
/// let signature = Message::parse(&envelope)?.field("MsgSignature").unwrap().to_string();
/// let plain = crypto.decrypt(&signature, "1409304348", "nonce", &envelope)?;
/// assert_eq!(plain, "<xml><Content>hi</Content></xml>");
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct MessageCrypto {
    token: Secret,
    key: AesKey,
    previous_key: Option<AesKey>,
    app_id: String,
}

/// A decoded EncodingAESKey. The IV is its first 16 bytes.
#[derive(Clone)]
struct AesKey([u8; 32]);

/// Which EncodingAESKey opened a push, so that its reply can be sealed
/// under the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUsed {
    /// The current EncodingAESKey.
    Current,
    /// The previous one, during a key change.
    Previous,
}

impl MessageCrypto {
    /// A `MessageCrypto` for the server `token`, the 43-character
    /// `encoding_aes_key` and the `app_id` messages must carry.
    ///
    /// # Errors
    ///
    /// [`CallbackErrorKind::InvalidKey`] when `encoding_aes_key` is not 43
    /// characters of standard base64.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, ErrorKind, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let err = MessageCrypto::new(env("WECHAT_TOKEN", "t0ken"), "too-short", "wx123").unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Callback(CallbackErrorKind::InvalidKey));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn new(
        token: impl Into<Secret>,
        encoding_aes_key: impl Into<Secret>,
        app_id: impl Into<String>,
    ) -> Result<MessageCrypto> {
        Ok(MessageCrypto {
            token: token.into(),
            key: AesKey::decode(&encoding_aes_key.into())?,
            previous_key: None,
            app_id: app_id.into(),
        })
    }

    /// Adds the EncodingAESKey in use before the current one: a push that
    /// fails to decrypt under the current key is tried again under this one,
    /// so messages sent around a key change are not lost. No previous key by
    /// default.
    ///
    /// # Errors
    ///
    /// [`CallbackErrorKind::InvalidKey`] when `encoding_aes_key` is not 43
    /// characters of standard base64.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Message, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let token = env("WECHAT_TOKEN", "t0ken");
    /// let old = env("WECHAT_PREVIOUS_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// let new = env("WECHAT_ENCODING_AES_KEY", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg");
    /// // A push WeChat encrypted just before the key change.
    /// let sent = MessageCrypto::new(token.as_str(), old.as_str(), "wx123")?.encrypt("<xml/>", "1", "n")?;
    ///
    /// let crypto = MessageCrypto::new(token, new, "wx123")?.previous_key(old)?;
    /// let signature = Message::parse(&sent)?.field("MsgSignature").unwrap().to_string();
    /// assert_eq!(crypto.decrypt(&signature, "1", "n", &sent)?, "<xml/>");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn previous_key(mut self, encoding_aes_key: impl Into<Secret>) -> Result<MessageCrypto> {
        self.previous_key = Some(AesKey::decode(&encoding_aes_key.into())?);
        Ok(self)
    }

    /// The appid messages must carry.
    ///
    /// # Example
    ///
    /// ```
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let key = env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// let crypto = weixin::MessageCrypto::new(env("WECHAT_TOKEN", "t0ken"), key, "wx123")?;
    /// assert_eq!(crypto.app_id(), "wx123");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The server token, for the plain `signature` of a push.
    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }

    /// Checks and decrypts a push whose POST `body` is WeChat's encrypted
    /// XML (`<xml><ToUserName>..</ToUserName><Encrypt>..</Encrypt></xml>`)
    /// or JSON (`{"ToUserName":"..","Encrypt":".."}`, a mini program's in
    /// JSON mode; told by [`PushFormat::Detect`]), returning the decrypted
    /// message to hand to [`Message::parse`](crate::Message::parse) or
    /// [`Message::parse_json`](crate::Message::parse_json).
    ///
    /// `msg_signature`, `timestamp` and `nonce` are the query parameters of
    /// the push. The signature is checked before anything is decrypted.
    ///
    /// # Errors
    ///
    /// All of kind [`ErrorKind::Callback`](crate::ErrorKind::Callback): the
    /// errors of [`Message::parse`](crate::Message::parse) or
    /// [`Message::parse_json`](crate::Message::parse_json) for the body
    /// (and [`CallbackErrorKind::Xml`] or [`CallbackErrorKind::Json`] when
    /// it has no `Encrypt`), then those of
    /// [`MessageCrypto::decrypt_encrypted`].
    ///
    /// # Example
    ///
    /// A third-party platform receiving its `component_verify_ticket`:
    ///
    /// ```
    /// use weixin::{ComponentPush, Message, MessageCrypto, MessageKind};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let crypto = MessageCrypto::new(
    ///     env("WECHAT_TOKEN", "t0ken"),
    ///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ///     "wx_component",
    /// )?;
    /// # // Stand in for WeChat: encrypt a push the way it does.
    /// # let push = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
    /// #     <InfoType>component_verify_ticket</InfoType>\
    /// #     <ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>";
    /// # let body = crypto.encrypt(push, "1413192605", "nonce")?;
    /// # let msg_signature = Message::parse(&body)?.field("MsgSignature").unwrap().to_string();
    /// // msg_signature, timestamp and nonce come from the query, body from the POST.
    /// let xml = crypto.decrypt(&msg_signature, "1413192605", "nonce", &body)?;
    /// let MessageKind::Component(ComponentPush::VerifyTicket { ticket, .. }) =
    ///     Message::parse(&xml)?.into_kind()
    /// else {
    ///     panic!("not a ticket");
    /// };
    /// assert_eq!(ticket.expose(), "ticket@@@x");
    /// // Keep the ticket, then answer the body `success`.
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<String> {
        self.decrypt_keyed(msg_signature, timestamp, nonce, body)
            .map(|(xml, _)| xml)
    }

    /// [`MessageCrypto::decrypt`], also saying which key opened the push.
    pub(crate) fn decrypt_keyed(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<(String, KeyUsed)> {
        let format = PushFormat::Detect.of(body.as_bytes());
        self.decrypt_in(format, msg_signature, timestamp, nonce, body)
    }

    /// [`MessageCrypto::decrypt_keyed`] of a body in `format` (XML for
    /// anything but JSON).
    pub(crate) fn decrypt_in(
        &self,
        format: PushFormat,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<(String, KeyUsed)> {
        let encrypted = match format {
            PushFormat::Json => parse_json_fields(body)?
                .remove("Encrypt")
                .ok_or_else(|| json_error("encrypted body without \"Encrypt\""))?,
            _ => parse_fields(body)?
                .remove("Encrypt")
                .ok_or_else(|| crate::message::xml_error("encrypted body without <Encrypt>"))?,
        };
        self.decrypt_encrypted_keyed(msg_signature, timestamp, nonce, &encrypted)
    }

    /// Checks and decrypts the value of an `Encrypt` field taken from the
    /// body by the caller (mini program callbacks may be JSON).
    ///
    /// # Errors
    ///
    /// All of kind [`ErrorKind::Callback`](crate::ErrorKind::Callback), in
    /// the order they are checked:
    /// - [`CallbackErrorKind::BadSignature`]: `msg_signature` is not
    ///   `sha1(sort([token, timestamp, nonce, encrypted]))`;
    /// - [`CallbackErrorKind::Base64`]: `encrypted` is not standard base64;
    /// - [`CallbackErrorKind::CiphertextLength`]: the ciphertext is empty or
    ///   not a multiple of 16 bytes;
    /// - then, under the current key and again under the previous one if
    ///   set (the current key's error is returned when both fail):
    ///   [`CallbackErrorKind::Padding`] for padding that is not PKCS#7 over
    ///   32-byte blocks, [`CallbackErrorKind::LengthField`] when the length
    ///   field points past the end, [`CallbackErrorKind::AppIdMismatch`]
    ///   when the trailing appid is not this one's, and
    ///   [`CallbackErrorKind::Utf8`] when the message is not UTF-8.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, ErrorKind, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let crypto = MessageCrypto::new(
    ///     env("WECHAT_TOKEN", "t0ken"),
    ///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ///     "wx123",
    /// )?;
    /// let err = crypto.decrypt_encrypted("0000", "1", "n", "AAAA").unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::Callback(CallbackErrorKind::BadSignature));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn decrypt_encrypted(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<String> {
        self.decrypt_encrypted_keyed(msg_signature, timestamp, nonce, encrypted)
            .map(|(message, _)| message)
    }

    /// [`MessageCrypto::decrypt_encrypted`], also saying which key opened
    /// the message.
    pub(crate) fn decrypt_encrypted_keyed(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
    ) -> Result<(String, KeyUsed)> {
        verify_sorted(
            msg_signature,
            &[self.token.expose(), timestamp, nonce, encrypted],
        )?;
        let ciphertext = STANDARD
            .decode(encrypted)
            .map_err(|_| Error::callback(CallbackErrorKind::Base64))?;
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(Error::callback(CallbackErrorKind::CiphertextLength));
        }
        let current = |ciphertext| {
            self.open(&self.key, ciphertext)
                .map(|message| (message, KeyUsed::Current))
        };
        let Some(previous) = &self.previous_key else {
            return current(ciphertext);
        };
        // Decryption works in place, so the fallback needs its own copy.
        current(ciphertext.clone()).or_else(|current_error| {
            self.open(previous, ciphertext)
                .map(|message| (message, KeyUsed::Previous))
                .map_err(|_| current_error)
        })
    }

    /// Encrypts a passive reply (for example [`Reply::to_xml`]) and
    /// returns the whole body to answer with:
    /// `<xml><Encrypt>..</Encrypt><MsgSignature>..</MsgSignature><TimeStamp>..</TimeStamp><Nonce>..</Nonce></xml>`.
    ///
    /// Each call draws a fresh random 16-byte prefix, so encrypting the same
    /// reply twice gives different ciphertexts.
    ///
    /// [`Reply::to_xml`]: crate::Reply::to_xml
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the operating
    /// system's random number generator fails, and
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) for a
    /// reply of 4 GiB or more (the length field is 32 bits).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Message, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let crypto = MessageCrypto::new(
    ///     env("WECHAT_TOKEN", "t0ken"),
    ///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ///     "wx123",
    /// )?;
    /// let envelope = Message::parse(&crypto.encrypt("<xml/>", "1409304348", "nonce")?)?;
    /// assert_eq!(envelope.field("TimeStamp"), Some("1409304348"));
    /// assert_eq!(envelope.field("Nonce"), Some("nonce"));
    /// assert!(envelope.field("Encrypt").is_some());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn encrypt(&self, reply: &str, timestamp: &str, nonce: &str) -> Result<String> {
        self.encrypt_keyed(KeyUsed::Current, PushFormat::Xml, reply, timestamp, nonce)
    }

    /// Encrypts a passive reply to a JSON push (for example
    /// [`Reply::to_json`]) and returns the whole body to answer with:
    /// `{"Encrypt":"..","MsgSignature":"..","TimeStamp":..,"Nonce":".."}`,
    /// the envelope WeChat documents for a mini program's safe mode.
    /// `TimeStamp` is a JSON number when `timestamp` is one written plainly
    /// (WeChat's example), a string otherwise; the signature covers its text
    /// either way.
    ///
    /// Each call draws a fresh random 16-byte prefix, as
    /// [`MessageCrypto::encrypt`] does.
    ///
    /// [`Reply::to_json`]: crate::Reply::to_json
    ///
    /// # Errors
    ///
    /// Those of [`MessageCrypto::encrypt`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Message, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let crypto = MessageCrypto::new(
    ///     env("WECHAT_TOKEN", "t0ken"),
    ///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ///     "wx123",
    /// )?;
    /// let body = crypto.encrypt_json(r#"{"demo_resp":"good luck"}"#, "1713424427", "415670741")?;
    /// assert!(body.ends_with(r#","TimeStamp":1713424427,"Nonce":"415670741"}"#));
    /// let envelope = Message::parse_json(&body)?;
    /// let signature = envelope.field("MsgSignature").unwrap();
    /// assert_eq!(
    ///     crypto.decrypt(signature, "1713424427", "415670741", &body)?,
    ///     r#"{"demo_resp":"good luck"}"#
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn encrypt_json(&self, reply: &str, timestamp: &str, nonce: &str) -> Result<String> {
        self.encrypt_keyed(KeyUsed::Current, PushFormat::Json, reply, timestamp, nonce)
    }

    /// [`MessageCrypto::encrypt`] or [`MessageCrypto::encrypt_json`] under
    /// the given key: the reply to a push goes out under the key that
    /// opened it, in the push's format. The previous key falls back to the
    /// current one when there is none.
    pub(crate) fn encrypt_keyed(
        &self,
        key: KeyUsed,
        format: PushFormat,
        reply: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String> {
        let key = match (key, &self.previous_key) {
            (KeyUsed::Previous, Some(previous)) => previous,
            _ => &self.key,
        };
        let mut random = [0u8; RANDOM_LEN];
        getrandom::fill(&mut random)
            .map_err(|e| Error::config(format!("random number generator failed: {e}")))?;
        let encrypted = self.seal_with(key, random, reply)?;
        let signature = sha1_sorted(&[self.token.expose(), timestamp, nonce, &encrypted]);
        if format == PushFormat::Json {
            return Ok(JsonWriter::build(|o| {
                o.string("Encrypt", &encrypted)
                    .string("MsgSignature", &signature);
                match timestamp.parse::<u64>() {
                    Ok(number) if number.to_string() == timestamp => o.number("TimeStamp", number),
                    _ => o.string("TimeStamp", timestamp),
                };
                o.string("Nonce", nonce);
            }));
        }
        Ok(format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
             <TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&encrypted),
            cdata(&signature),
            quick_xml::escape::escape(timestamp),
            cdata(nonce),
        ))
    }

    /// Encrypts `message` behind the given random prefix under the current
    /// key, as base64.
    #[cfg(test)]
    fn seal(&self, random: [u8; RANDOM_LEN], message: &str) -> Result<String> {
        self.seal_with(&self.key, random, message)
    }

    /// Encrypts `message` behind the given random prefix under `key`, as
    /// base64.
    fn seal_with(&self, key: &AesKey, random: [u8; RANDOM_LEN], message: &str) -> Result<String> {
        let length =
            u32::try_from(message.len()).map_err(|_| Error::invalid("reply is 4 GiB or more"))?;
        let mut plaintext = Vec::with_capacity(
            RANDOM_LEN + LENGTH_FIELD_LEN + message.len() + self.app_id.len() + PAD_BLOCK,
        );
        plaintext.extend_from_slice(&random);
        plaintext.extend_from_slice(&length.to_be_bytes());
        plaintext.extend_from_slice(message.as_bytes());
        plaintext.extend_from_slice(self.app_id.as_bytes());
        // 1..=32 bytes: a full block of padding when already aligned.
        let pad = PAD_BLOCK - plaintext.len() % PAD_BLOCK;
        // ok because pad is at most 32
        plaintext.resize(plaintext.len() + pad, pad as u8);

        let len = plaintext.len();
        let key = &key.0;
        Aes256CbcEnc::new(key.into(), key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
            // ok because the length is a multiple of 32, so of the block
            .expect("plaintext is padded to whole blocks");
        Ok(STANDARD.encode(&plaintext))
    }

    /// Decrypts `ciphertext` (a non-empty multiple of 16 bytes) under `key`
    /// and checks the padding, the length field and the appid.
    fn open(&self, key: &AesKey, mut ciphertext: Vec<u8>) -> Result<String> {
        let key = &key.0;
        let plaintext = Aes256CbcDec::new(key.into(), key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut ciphertext)
            // ok because the caller checked the length is whole blocks
            .expect("ciphertext is whole blocks");

        let unpadded = strip_padding(plaintext)?;
        let header = RANDOM_LEN + LENGTH_FIELD_LEN;
        if unpadded.len() < header {
            return Err(Error::callback(CallbackErrorKind::LengthField));
        }
        let mut length = [0u8; LENGTH_FIELD_LEN];
        length.copy_from_slice(&unpadded[RANDOM_LEN..header]);
        let length = u32::from_be_bytes(length) as usize;
        let rest = &unpadded[header..];
        if length > rest.len() {
            return Err(Error::callback(CallbackErrorKind::LengthField));
        }
        let (message, app_id) = rest.split_at(length);
        if app_id != self.app_id.as_bytes() {
            return Err(Error::callback(CallbackErrorKind::AppIdMismatch));
        }
        String::from_utf8(message.to_vec()).map_err(|_| Error::callback(CallbackErrorKind::Utf8))
    }
}

/// Removes PKCS#7 padding over 32-byte blocks: the last byte `n` is 1..=32
/// and the last `n` bytes all equal `n`.
fn strip_padding(plaintext: &[u8]) -> Result<&[u8]> {
    let bad = || Error::callback(CallbackErrorKind::Padding);
    if plaintext.is_empty() || plaintext.len() % PAD_BLOCK != 0 {
        return Err(bad());
    }
    let pad = usize::from(plaintext[plaintext.len() - 1]);
    if pad == 0 || pad > PAD_BLOCK {
        return Err(bad());
    }
    let (unpadded, padding) = plaintext.split_at(plaintext.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(bad());
    }
    Ok(unpadded)
}

impl AesKey {
    fn decode(encoding_aes_key: &Secret) -> Result<AesKey> {
        let invalid = || Error::callback(CallbackErrorKind::InvalidKey);
        let text = encoding_aes_key.expose();
        if text.len() != 43 {
            return Err(invalid());
        }
        let bytes = KEY_ENGINE.decode(text).map_err(|_| invalid())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
        Ok(AesKey(key))
    }
}

impl fmt::Debug for MessageCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCrypto")
            .field("token", &self.token)
            .field("key", &self.key)
            .field("previous_key", &self.previous_key)
            .field("app_id", &self.app_id)
            .finish()
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::message::test_support::kind;
    use proptest::prelude::*;

    const TOKEN: &str = "t0ken";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const OTHER_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
    const APP_ID: &str = "wxb11529c136998cb6";
    const RANDOM: [u8; 16] = *b"aaaabbbbccccdddd";

    fn crypto() -> MessageCrypto {
        MessageCrypto::new(TOKEN, KEY, APP_ID).unwrap()
    }

    /// Decrypts `encrypted` with a correct signature, so that only the
    /// checks after the signature can fail.
    fn open_signed(crypto: &MessageCrypto, encrypted: &str) -> Result<String> {
        let sig = sha1_sorted(&[TOKEN, "1409304348", "nonce", encrypted]);
        crypto.decrypt_encrypted(&sig, "1409304348", "nonce", encrypted)
    }

    /// Encrypts raw `plaintext` (whole AES blocks) under KEY with no
    /// checks, to build malformed messages.
    fn raw_encrypt(mut plaintext: Vec<u8>) -> String {
        let key = AesKey::decode(&Secret::new(KEY)).unwrap().0;
        let len = plaintext.len();
        Aes256CbcEnc::new(&key.into(), key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
            .unwrap();
        STANDARD.encode(plaintext)
    }

    /// A plaintext laid out as WeChat does, padded to `total` bytes with
    /// `pad_byte`.
    fn layout(
        length_field: u32,
        message: &[u8],
        app_id: &[u8],
        total: usize,
        pad_byte: u8,
    ) -> Vec<u8> {
        let mut p = RANDOM.to_vec();
        p.extend_from_slice(&length_field.to_be_bytes());
        p.extend_from_slice(message);
        p.extend_from_slice(app_id);
        p.resize(total, pad_byte);
        p
    }

    #[test]
    fn matches_the_documented_vector() {
        let encrypted = crypto().seal(RANDOM, "我是中文abcd123").unwrap();
        assert_eq!(
            encrypted,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(
            open_signed(&crypto(), &encrypted).unwrap(),
            "我是中文abcd123"
        );
    }

    #[test]
    fn pads_a_full_block_when_the_plaintext_is_already_aligned() {
        // 16 random + 4 length + 26 message + 18 appid = 64 bytes, so the
        // padding is a whole 32-byte block. Expected value from
        // `openssl enc -aes-256-cbc -nopad` over the hand-padded plaintext.
        let message = "abcdefghijklmnopqrstuvwxyz";
        let encrypted = crypto().seal(RANDOM, message).unwrap();
        assert_eq!(
            encrypted,
            "jn1L23DB+6ELqJ+6bruv24kfnRA9CJ8qXRQfcTjuspbcu/BSVDHix6RSI3nK3z+fMd03dqZ5HIPCrQNNDa2xYd47apRHAo9FEf57/GQVWffqnF3WzheksoIGmk00BgBc"
        );
        assert_eq!(STANDARD.decode(&encrypted).unwrap().len(), 96);
        assert_eq!(open_signed(&crypto(), &encrypted).unwrap(), message);
    }

    #[test]
    fn envelope_carries_a_valid_signature_and_fresh_randomness() {
        let crypto = crypto();
        let envelope = crypto
            .encrypt("<xml>hi</xml>", "1409304348", "nonce")
            .unwrap();
        let fields = parse_fields(&envelope).unwrap();
        let encrypted = &fields["Encrypt"];
        assert!(envelope.starts_with("<xml><Encrypt><![CDATA["));
        assert!(envelope.ends_with(
            "]]></MsgSignature><TimeStamp>1409304348</TimeStamp><Nonce><![CDATA[nonce]]></Nonce></xml>"
        ));
        assert_eq!(
            fields["MsgSignature"],
            sha1_sorted(&[TOKEN, "1409304348", "nonce", encrypted])
        );
        let again = crypto
            .encrypt("<xml>hi</xml>", "1409304348", "nonce")
            .unwrap();
        assert_ne!(parse_fields(&again).unwrap()["Encrypt"], *encrypted);
        assert_eq!(
            crypto
                .decrypt(&fields["MsgSignature"], "1409304348", "nonce", &envelope)
                .unwrap(),
            "<xml>hi</xml>"
        );
    }

    #[test]
    fn decrypts_the_body_wechat_posts() {
        let encrypted = crypto().seal(RANDOM, "<xml/>").unwrap();
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        );
        let sig = sha1_sorted(&[TOKEN, "1", "n", &encrypted]);
        assert_eq!(crypto().decrypt(&sig, "1", "n", &body).unwrap(), "<xml/>");

        let err = crypto().decrypt(&sig, "1", "n", "<xml><ToUserName>gh_1</ToUserName></xml>");
        assert!(matches!(kind(err.unwrap_err()), CallbackErrorKind::Xml(_)));
    }

    #[test]
    fn checks_the_signature_before_anything_else() {
        let encrypted = crypto().seal(RANDOM, "hi").unwrap();
        let sig = sha1_sorted(&[TOKEN, "1", "n", &encrypted]);
        for (sig, timestamp, nonce, encrypted) in [
            (sig.as_str(), "2", "n", encrypted.as_str()),
            (sig.as_str(), "1", "m", encrypted.as_str()),
            ("", "1", "n", encrypted.as_str()),
            // Garbage that would fail base64 is still a signature error.
            (sig.as_str(), "1", "n", "!!not base64!!"),
        ] {
            let err = crypto()
                .decrypt_encrypted(sig, timestamp, nonce, encrypted)
                .unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::Callback(CallbackErrorKind::BadSignature)
            );
        }
        let other_token = MessageCrypto::new("other", KEY, APP_ID).unwrap();
        let err = other_token
            .decrypt_encrypted(&sig, "1", "n", &encrypted)
            .unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::BadSignature);
    }

    #[test]
    fn refuses_keys_that_are_not_43_base64_characters() {
        for key in [
            "",
            &KEY[..42],
            &format!("{KEY}="),
            &format!("{KEY}A"),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE\u{e9}",
        ] {
            let err = MessageCrypto::new(TOKEN, key, APP_ID).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::InvalidKey, "key {key:?}");
            let err = crypto().previous_key(key).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::InvalidKey, "key {key:?}");
        }
    }

    #[test]
    fn refuses_bad_base64() {
        for encrypted in [
            "!!!!",
            "jn1L23DB+6ELqJ+6bruv2",
            "jn1L 23DB",
            "jn1L23DB+6ELqJ+6bruv21Y6MD7Ke=IfP",
        ] {
            let err = open_signed(&crypto(), encrypted).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::Base64, "{encrypted:?}");
        }
    }

    #[test]
    fn refuses_ciphertexts_that_are_not_whole_blocks() {
        for len in [0, 1, 15, 17, 63] {
            let encrypted = STANDARD.encode(vec![7u8; len]);
            let err = open_signed(&crypto(), &encrypted).unwrap_err();
            assert_eq!(
                kind(err),
                CallbackErrorKind::CiphertextLength,
                "{len} bytes"
            );
        }
    }

    #[test]
    fn refuses_bad_padding() {
        let good = layout(2, b"hi", APP_ID.as_bytes(), 64, 24);
        assert_eq!(
            open_signed(&crypto(), &raw_encrypt(good.clone())).unwrap(),
            "hi"
        );

        let mut zero = good.clone();
        zero[63] = 0;
        let mut too_big = good.clone();
        too_big[63] = 33;
        let mut uneven = good.clone();
        uneven[50] = 23;
        // 48 bytes: whole AES blocks but not whole 32-byte padding blocks.
        let half_block = layout(2, b"hi", APP_ID.as_bytes(), 48, 8);
        for plaintext in [zero, too_big, uneven, half_block] {
            let err = open_signed(&crypto(), &raw_encrypt(plaintext)).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::Padding);
        }
    }

    #[test]
    fn refuses_a_length_field_past_the_end() {
        for length in [21, 1000, u32::MAX] {
            let plaintext = layout(length, b"hi", APP_ID.as_bytes(), 64, 24);
            let err = open_signed(&crypto(), &raw_encrypt(plaintext)).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::LengthField, "length {length}");
        }
        // Padding that leaves fewer bytes than the random prefix and the
        // length field.
        let err = open_signed(&crypto(), &raw_encrypt(vec![32u8; 32])).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::LengthField);
        let mut short = RANDOM.to_vec();
        short.resize(32, 13);
        let err = open_signed(&crypto(), &raw_encrypt(short)).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::LengthField);
    }

    #[test]
    fn refuses_a_foreign_appid() {
        let foreign = MessageCrypto::new(TOKEN, KEY, "wx0000000000000000").unwrap();
        let encrypted = foreign.seal(RANDOM, "hi").unwrap();
        let err = open_signed(&crypto(), &encrypted).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::AppIdMismatch);

        // The length field must split message and appid exactly.
        let plaintext = layout(1, b"hi", APP_ID.as_bytes(), 64, 24);
        let err = open_signed(&crypto(), &raw_encrypt(plaintext)).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::AppIdMismatch);
    }

    #[test]
    fn refuses_a_message_that_is_not_utf8() {
        let plaintext = layout(2, b"\xff\xfe", APP_ID.as_bytes(), 64, 24);
        let err = open_signed(&crypto(), &raw_encrypt(plaintext)).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::Utf8);
    }

    #[test]
    fn falls_back_to_the_previous_key() {
        let old = MessageCrypto::new(TOKEN, OTHER_KEY, APP_ID).unwrap();
        let sent_before_rotation = old.seal(RANDOM, "old").unwrap();
        let sent_after_rotation = crypto().seal(RANDOM, "new").unwrap();

        let rotated = crypto().previous_key(OTHER_KEY).unwrap();
        assert_eq!(open_signed(&rotated, &sent_before_rotation).unwrap(), "old");
        assert_eq!(open_signed(&rotated, &sent_after_rotation).unwrap(), "new");

        // Without the previous key the old message is garbage (this input
        // fails at the padding).
        let err = open_signed(&crypto(), &sent_before_rotation).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::Padding);

        // When both keys fail, the current key's error is reported.
        let foreign = MessageCrypto::new(TOKEN, KEY, "wx0000000000000000").unwrap();
        let err = open_signed(&rotated, &foreign.seal(RANDOM, "hi").unwrap()).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::AppIdMismatch);
    }

    #[test]
    fn says_which_key_opened_a_push_and_seals_under_it() {
        let rotated = crypto().previous_key(OTHER_KEY).unwrap();
        let old = MessageCrypto::new(TOKEN, OTHER_KEY, APP_ID).unwrap();
        let opened = |crypto: &MessageCrypto, sent: &str| {
            let sig = sha1_sorted(&[TOKEN, "1", "n", sent]);
            crypto.decrypt_encrypted_keyed(&sig, "1", "n", sent)
        };
        let before = old.seal(RANDOM, "old").unwrap();
        let after = crypto().seal(RANDOM, "new").unwrap();
        assert_eq!(
            opened(&rotated, &before).unwrap(),
            ("old".to_string(), KeyUsed::Previous)
        );
        assert_eq!(
            opened(&rotated, &after).unwrap(),
            ("new".to_string(), KeyUsed::Current)
        );

        let reply = rotated
            .encrypt_keyed(KeyUsed::Previous, PushFormat::Xml, "<xml/>", "1", "n")
            .unwrap();
        let encrypted = &parse_fields(&reply).unwrap()["Encrypt"];
        assert_eq!(opened(&old, encrypted).unwrap().0, "<xml/>");
        // Which check fails under the wrong key depends on the random
        // prefix; that one fails is what matters.
        assert!(opened(&crypto(), encrypted).is_err());
        // Without a previous key, "previous" is the current one.
        let reply = crypto()
            .encrypt_keyed(KeyUsed::Previous, PushFormat::Xml, "<xml/>", "1", "n")
            .unwrap();
        let encrypted = &parse_fields(&reply).unwrap()["Encrypt"];
        assert_eq!(
            opened(&crypto(), encrypted).unwrap(),
            ("<xml/>".to_string(), KeyUsed::Current)
        );
    }

    /// WeChat's own example for a mini program in safe mode with JSON
    /// (token `AAAAA`, an EncodingAESKey of 43 `A`s): the push it documents
    /// opens, and the reply it documents is what the crate seals.
    #[test]
    fn matches_the_documented_json_vectors() {
        let doc = MessageCrypto::new("AAAAA", "A".repeat(43), "wxba5fad812f8e6fb9").unwrap();
        let encrypted = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
        let body = format!(
            "{{\n  \"ToUserName\": \"gh_97417a04a28d\",\n  \"Encrypt\": \"{encrypted}\"\n}}"
        );
        let opened = doc
            .decrypt(
                "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
                "1714112445",
                "415670741",
                &body,
            )
            .unwrap();
        assert_eq!(
            opened,
            r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#
        );

        let sealed = doc
            .seal(*b"707722b803182950", r#"{"demo_resp":"good luck"}"#)
            .unwrap();
        assert_eq!(
            sealed,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            sha1_sorted(&["AAAAA", "1713424427", "415670741", &sealed]),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }

    #[test]
    fn the_json_envelope_is_wechats_with_a_numeric_timestamp_when_it_is_one() {
        let crypto = crypto();
        let body = crypto.encrypt_json("{}", "1713424427", "n\"once").unwrap();
        let fields = parse_json_fields(&body).unwrap();
        let encrypted = &fields["Encrypt"];
        assert_eq!(
            body,
            format!(
                r#"{{"Encrypt":"{encrypted}","MsgSignature":"{}","TimeStamp":1713424427,"Nonce":"n\"once"}}"#,
                sha1_sorted(&[TOKEN, "1713424427", "n\"once", encrypted])
            )
        );
        assert_eq!(
            crypto
                .decrypt(&fields["MsgSignature"], "1713424427", "n\"once", &body)
                .unwrap(),
            "{}"
        );
        // Not a plain number: a string, so that its text is what was signed.
        for timestamp in ["0017", "1.5", "soon", "18446744073709551616"] {
            let body = crypto.encrypt_json("{}", timestamp, "n").unwrap();
            assert!(
                body.contains(&format!(r#""TimeStamp":"{timestamp}""#)),
                "{body}"
            );
        }
        let err = crypto
            .decrypt("0", "1", "n", r#"{"ToUserName":"gh_1"}"#)
            .unwrap_err();
        assert_eq!(
            kind(err),
            CallbackErrorKind::Json("encrypted body without \"Encrypt\"".into())
        );
    }

    #[test]
    fn debug_redacts_the_token_and_keys() {
        let crypto = crypto().previous_key(OTHER_KEY).unwrap();
        let shown = format!("{crypto:?}");
        assert_eq!(
            shown,
            "MessageCrypto { token: [redacted], key: [redacted], previous_key: Some([redacted]), app_id: \"wxb11529c136998cb6\" }"
        );
        assert!(!shown.contains(TOKEN) && !shown.contains(KEY) && !shown.contains(OTHER_KEY));
        assert!(!format!("{crypto:#?}").contains(TOKEN));
    }

    proptest! {
        #[test]
        fn round_trips_any_reply(
            reply in any::<String>(),
            timestamp in "[0-9]{1,10}",
            nonce in "[a-zA-Z0-9]{0,16}",
        ) {
            let crypto = crypto().previous_key(OTHER_KEY).unwrap();
            let envelope = crypto.encrypt(&reply, &timestamp, &nonce).unwrap();
            let fields = parse_fields(&envelope).unwrap();
            prop_assert_eq!(&fields["TimeStamp"], &timestamp);
            let decrypted = crypto
                .decrypt(&fields["MsgSignature"], &timestamp, &nonce, &envelope)
                .unwrap();
            prop_assert_eq!(decrypted, reply);
        }

        #[test]
        fn any_ciphertext_is_an_error_or_a_message_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = open_signed(&crypto(), &STANDARD.encode(&bytes));
        }
    }
}
