//! The vectors' keys as the client and the fake WeChat take them: shared by
//! the tests (`tests/api_security.rs`, the CLI's, the redaction sweep) and
//! the bench (`benches/api_security.rs`) through `#[path]`.

use serde_json::Value;
use weixin::testing::FakeApiSecurity;
use weixin::ApiSecurity;

/// The whole vectors file.
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("api_security.json")).unwrap()
}

/// One string of the vectors file's top level.
pub fn v(name: &str) -> String {
    vectors()[name].as_str().unwrap().to_string()
}

/// The client's keys: the vectors' symmetric and private keys, the first
/// platform certificate.
pub fn client_keys() -> ApiSecurity {
    ApiSecurity::new(
        v("sym_sn"),
        &v("sym_key"),
        v("rsa_sn"),
        &v("app_private_key"),
    )
    .unwrap()
    .platform_certificate(v("cert_sn"), &v("platform_certificate"))
    .unwrap()
}

/// WeChat's side of the same keys, signing with the first platform key.
pub fn fake_keys() -> FakeApiSecurity {
    FakeApiSecurity::new(
        &v("sym_sn"),
        &v("sym_key"),
        &v("app_certificate"),
        &v("cert_sn"),
        &v("platform_private_key"),
    )
    .unwrap()
}
