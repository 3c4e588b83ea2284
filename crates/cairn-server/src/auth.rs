//! Access tokens and the short-lived data-path tokens the metadata exchange hands out.
//!
//! A data-path token is `base64url(payload ‖ HMAC-SHA256(key, payload))`, payload =
//! `version u8 | expires_at_ms u64 | access u8 | grant index u16 | database name`. The key is
//! the database's: `HMAC-SHA256(secret, "cairn data-token key" ‖ name)` of the server secret,
//! which lives in the data directory (`server.secret`, created once), so tokens stay valid
//! across a restart until they expire. A replica adopts its primary's key for the database it
//! follows (sent with the replication stream, kept in `<data dir>/<name>.token-key`): a
//! client's data token then works on the primary and on every replica, as the metadata
//! exchange's list of endpoints requires, and still after a promotion. Every comparison of
//! secrets is constant-time.

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{Access, TokenGrant};

type HmacSha256 = Hmac<Sha256>;

const TOKEN_VERSION: u8 = 1;
const MAC_LEN: usize = 32;

/// A request's credentials, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Position of the access token in the configuration (for per-token limits).
    pub index: u16,
    /// What it may do.
    pub access: Access,
}

/// Checks tokens.
pub struct Auth {
    grants: Vec<TokenGrant>,
    /// HMAC of each grant's token under the secret, in the order of `grants`.
    token_macs: Vec<[u8; MAC_LEN]>,
    secret: [u8; 32],
    /// Data-token keys adopted from primaries, by database name.
    adopted: parking_lot::RwLock<std::collections::HashMap<String, [u8; MAC_LEN]>>,
    /// Where adopted keys are kept.
    dir: std::path::PathBuf,
}

/// What [`Auth::adopt`] stores and the stream sends: a database's data-token key.
pub type DataTokenKey = [u8; MAC_LEN];

impl Auth {
    /// Loads (or creates) the server secret in `data_dir`.
    pub fn new(grants: Vec<TokenGrant>, data_dir: &Path) -> std::io::Result<Auth> {
        let path = data_dir.join("server.secret");
        let secret = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => bytes.try_into().unwrap_or([0; 32]),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not 32 bytes",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                std::fs::create_dir_all(data_dir)?;
                std::fs::write(&path, secret)?;
                secret
            }
            Err(e) => return Err(e),
        };
        let mut auth = Auth {
            grants,
            token_macs: Vec::new(),
            secret,
            adopted: Default::default(),
            dir: data_dir.to_path_buf(),
        };
        auth.load_adopted()?;
        auth.token_macs = auth
            .grants
            .iter()
            .map(|g| auth.mac(g.token.as_bytes()))
            .collect();
        Ok(auth)
    }

    /// The grant of an access token for database `name`. What is compared are MACs of the
    /// tokens (32 bytes whatever a token's length), in constant time, against every
    /// configured token whatever matches: timing reveals neither how close a guess was nor
    /// how long the real tokens are.
    pub fn access_token(&self, presented: &str, name: &str) -> Option<Grant> {
        let presented = self.mac(presented.as_bytes());
        let mut found = None;
        for (index, (grant, mac)) in self.grants.iter().zip(&self.token_macs).enumerate() {
            let equal: bool = mac.ct_eq(&presented).into();
            if equal && found.is_none() && grant.opens(name) {
                found = Some(Grant {
                    index: u16::try_from(index).unwrap_or(u16::MAX),
                    access: grant.access,
                });
            }
        }
        found
    }

    /// True if `presented` is one of the configured access tokens (for any database),
    /// compared as [`Auth::access_token`] does: in constant time, against every token.
    pub fn knows(&self, presented: &str) -> bool {
        let presented = self.mac(presented.as_bytes());
        self.token_macs.iter().fold(false, |found, mac| {
            found | bool::from(mac.ct_eq(&presented))
        })
    }

    /// A data-path token for `grant` on database `name`, valid until `expires_at_ms`.
    pub fn issue(&self, grant: &Grant, name: &str, expires_at_ms: u64) -> String {
        let mut payload = vec![TOKEN_VERSION];
        payload.extend_from_slice(&expires_at_ms.to_be_bytes());
        payload.push(match grant.access {
            Access::ReadWrite => 1,
            Access::ReadOnly => 2,
        });
        payload.extend_from_slice(&grant.index.to_be_bytes());
        payload.extend_from_slice(name.as_bytes());
        let mac = mac_with(&self.data_key(name), &payload);
        payload.extend_from_slice(&mac);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    }

    /// The grant of a data-path token for database `name`, if it is genuine and unexpired.
    pub fn data_token(&self, presented: &str, name: &str, now_ms: u64) -> Option<Grant> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(presented)
            .ok()?;
        let split = bytes.len().checked_sub(MAC_LEN)?;
        let (payload, mac) = bytes.split_at(split);
        let expected = mac_with(&self.data_key(name), payload);
        if !bool::from(expected.as_slice().ct_eq(mac)) {
            return None;
        }
        let (&version, rest) = payload.split_first()?;
        if version != TOKEN_VERSION || rest.len() < 11 {
            return None;
        }
        let (expiry, rest) = rest.split_at(8);
        let expires_at_ms = u64::from_be_bytes(expiry.try_into().ok()?);
        let (&access, rest) = rest.split_first()?;
        let (index, db) = rest.split_at(2);
        if expires_at_ms <= now_ms || db != name.as_bytes() {
            return None;
        }
        let access = match access {
            1 => Access::ReadWrite,
            2 => Access::ReadOnly,
            _ => return None,
        };
        Some(Grant {
            index: u16::from_be_bytes(index.try_into().ok()?),
            access,
        })
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        mac_with(&self.secret, payload)
    }

    /// The key of database `name`'s data tokens: adopted from its primary, or this server's.
    pub fn data_key(&self, name: &str) -> DataTokenKey {
        if let Some(key) = self.adopted.read().get(name) {
            return *key;
        }
        let mut input = b"cairn data-token key\0".to_vec();
        input.extend_from_slice(name.as_bytes());
        self.mac(&input)
    }

    /// Takes `key` as database `name`'s data-token key from now on (a replica adopts its
    /// primary's), and keeps it in the data directory for later starts.
    pub fn adopt(&self, name: &str, key: DataTokenKey) -> std::io::Result<()> {
        if self.adopted.read().get(name) == Some(&key) {
            return Ok(());
        }
        let path = self.dir.join(format!("{name}.token-key"));
        let temp = self.dir.join(format!("{name}.token-key.tmp"));
        std::fs::write(&temp, key)?;
        std::fs::File::open(&temp)?.sync_all()?;
        std::fs::rename(&temp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.adopted.write().insert(name.to_owned(), key);
        Ok(())
    }

    fn load_adopted(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let adopted = self.adopted.get_mut();
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".token-key"))
            else {
                continue;
            };
            match <[u8; MAC_LEN]>::try_from(std::fs::read(entry.path())?.as_slice()) {
                Ok(key) => {
                    adopted.insert(name.to_owned(), key);
                }
                Err(_) => {
                    return Err(std::io::Error::other(format!(
                        "{} is not {MAC_LEN} bytes",
                        entry.path().display()
                    )))
                }
            }
        }
        Ok(())
    }
}

fn mac_with(key: &[u8], payload: &[u8]) -> [u8; MAC_LEN] {
    // HMAC accepts keys of any length; the fallback is unreachable.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; MAC_LEN];
    };
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (Auth, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let grants = vec![
            TokenGrant::read_write_all("rw"),
            TokenGrant {
                token: "app-ro".into(),
                databases: vec!["app".into()],
                access: Access::ReadOnly,
            },
        ];
        (Auth::new(grants, dir.path()).expect("auth"), dir)
    }

    #[test]
    fn access_tokens_are_bound_to_databases_and_access() {
        let (auth, _dir) = auth();
        assert_eq!(
            auth.access_token("rw", "any").map(|g| g.access),
            Some(Access::ReadWrite)
        );
        assert_eq!(
            auth.access_token("app-ro", "app").map(|g| g.access),
            Some(Access::ReadOnly)
        );
        assert_eq!(auth.access_token("app-ro", "other"), None);
        assert_eq!(auth.access_token("rw2", "any"), None);
        assert_eq!(auth.access_token("", "any"), None);
        assert_eq!(auth.access_token("r", "any"), None, "a prefix");
        assert_eq!(
            auth.access_token("app-rp", "app"),
            None,
            "all but the last byte"
        );
    }

    #[test]
    fn data_tokens_expire_and_cannot_be_forged_or_moved() {
        let (auth, dir) = auth();
        let grant = Grant {
            index: 0,
            access: Access::ReadWrite,
        };
        let token = auth.issue(&grant, "app", 2_000);
        assert_eq!(auth.data_token(&token, "app", 1_000), Some(grant.clone()));
        assert_eq!(auth.data_token(&token, "app", 2_000), None, "expired");
        assert_eq!(
            auth.data_token(&token, "other", 1_000),
            None,
            "another database"
        );
        let mut forged = token.clone().into_bytes();
        forged[3] ^= 1;
        assert_eq!(
            auth.data_token(&String::from_utf8_lossy(&forged), "app", 1_000),
            None
        );
        assert_eq!(
            auth.data_token("rw", "app", 1_000),
            None,
            "the access token is not a data token"
        );
        // The secret persists: a restarted server accepts its earlier tokens.
        let again = Auth::new(vec![], dir.path()).expect("reload");
        assert_eq!(again.data_token(&token, "app", 1_000), Some(grant));
    }

    #[test]
    fn a_replica_accepts_its_primarys_tokens_once_it_adopted_the_key() {
        let (primary, _p) = auth();
        let (replica, dir) = auth();
        let grant = Grant {
            index: 0,
            access: Access::ReadOnly,
        };
        let token = primary.issue(&grant, "app", 2_000);
        assert_eq!(
            replica.data_token(&token, "app", 1_000),
            None,
            "another secret"
        );
        replica
            .adopt("app", primary.data_key("app"))
            .expect("adopted");
        assert_eq!(
            replica.data_token(&token, "app", 1_000),
            Some(grant.clone())
        );
        assert_eq!(
            primary.data_token(&replica.issue(&grant, "app", 2_000), "app", 1_000),
            Some(grant.clone()),
            "and the primary takes the replica's"
        );
        assert_ne!(replica.data_key("other"), primary.data_key("other"));
        let again = Auth::new(vec![], dir.path()).expect("reload");
        assert_eq!(again.data_token(&token, "app", 1_000), Some(grant), "kept");
    }
}
