//! The metadata exchange from both ends: the JSON bodies (request on the server, response on
//! the client, with its RFC 3339 expiry) and the tokens a server is presented (access tokens
//! and its own signed data-path tokens), all untrusted.
#![no_main]

use std::sync::OnceLock;

use cairn_proto::metadata::{parse_rfc3339_ms, MetadataRequest, MetadataResponse};
use cairn_server::auth::Auth;
use cairn_server::{Access, TokenGrant};
use libfuzzer_sys::fuzz_target;

fn auth() -> &'static Auth {
    static AUTH: OnceLock<(tempfile::TempDir, Auth)> = OnceLock::new();
    let (_, auth) = AUTH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let grants = vec![TokenGrant {
            token: "fuzz-token".into(),
            access: Access::ReadWrite,
            databases: vec!["*".into()],
        }];
        let auth = Auth::new(grants, dir.path()).expect("auth");
        (dir, auth)
    });
    auth
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<MetadataRequest>(data);
    if let Ok(response) = serde_json::from_slice::<MetadataResponse>(data) {
        let _ = parse_rfc3339_ms(&response.expires_at);
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_rfc3339_ms(&text);
    let auth = auth();
    let _ = auth.access_token(&text, "default");
    assert!(
        auth.data_token(&text, "default", 1_700_000_000_000)
            .is_none()
            || text.len() > 16,
        "a short forged token is never accepted"
    );
    // A genuine token for one database is refused for another.
    if let Some(grant) = auth.access_token("fuzz-token", "default") {
        let token = auth.issue(&grant, "default", u64::MAX / 2);
        let name = String::from_utf8_lossy(data);
        if name != "default" {
            assert!(auth.data_token(&token, &name, 0).is_none());
        }
    }
});
