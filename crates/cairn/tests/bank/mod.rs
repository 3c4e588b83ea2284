//! The bank of the transfer workloads (`isolation_bank.rs`, `crash_server.rs`): accounts are
//! keys `["bank", i]` holding u64 balances, moved by checked transfers of two sums.

use cairn_model::{key, Entry, Key, KvValue};

pub fn account(i: u64) -> Key {
    key!["bank", i]
}

/// The keys of accounts `0..n`.
pub fn accounts(n: u64) -> Vec<Key> {
    (0..n).map(account).collect()
}

/// The balance an account's entry holds; anything but a u64 is a broken test.
pub fn balance(entry: &Option<Entry>) -> u64 {
    match entry.as_ref().map(|e| &e.value) {
        Some(KvValue::U64(n)) => *n,
        other => panic!("an account holds {other:?}"),
    }
}
