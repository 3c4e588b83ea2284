//! Versionstamps: 10 bytes, the commit version (u64 big-endian) then the write's index within
//! its commit batch (u16 big-endian). Byte order equals commit order.

use std::fmt;
use std::str::FromStr;

/// A committed atomic write's identity; strictly increasing across the whole database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Versionstamp(pub [u8; 10]);

impl Versionstamp {
    /// Length in bytes.
    pub const LEN: usize = 10;

    /// The versionstamp of the write at `index` in the batch committed as `commit_version`.
    pub fn new(commit_version: u64, index: u16) -> Self {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&commit_version.to_be_bytes());
        b[8..].copy_from_slice(&index.to_be_bytes());
        Versionstamp(b)
    }

    /// The batch's commit version.
    pub fn commit_version(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, _, _] = self.0;
        u64::from_be_bytes([a, b, c, d, e, f, g, h])
    }

    /// The write's index within its batch.
    pub fn index(&self) -> u16 {
        let [.., i, j] = self.0;
        u16::from_be_bytes([i, j])
    }

    /// From exactly 10 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Versionstamp)
    }

    /// The 20 lowercase hex characters JavaScript users see.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Versionstamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A string that is not 20 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a versionstamp is 20 hex characters, got {0:?}")]
pub struct ParseVersionstampError(pub String);

impl FromStr for Versionstamp {
    type Err = ParseVersionstampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionstampError(s.to_owned());
        if s.len() != 20 || !s.is_ascii() {
            return Err(err());
        }
        let mut out = [0u8; 10];
        for (slot, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| err())?;
            *slot = u8::from_str_radix(text, 16).map_err(|_| err())?;
        }
        Ok(Versionstamp(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_hex() {
        let v = Versionstamp::new(0x0102, 7);
        assert_eq!(v.to_hex(), "00000000000001020007");
        assert_eq!(v.commit_version(), 0x0102);
        assert_eq!(v.index(), 7);
        assert_eq!("00000000000001020007".parse::<Versionstamp>(), Ok(v));
        assert!("0000".parse::<Versionstamp>().is_err());
        assert!("zz000000000001020007".parse::<Versionstamp>().is_err());
    }

    #[test]
    fn order_is_commit_order() {
        assert!(Versionstamp::new(1, 65535) < Versionstamp::new(2, 0));
        assert!(Versionstamp::new(2, 0) < Versionstamp::new(2, 1));
    }
}
