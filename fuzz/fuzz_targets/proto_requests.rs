//! Request and response bodies from the network: decoding any bytes as any KV Connect
//! message, then converting and validating what decoded, returns values or errors, never a
//! panic, and never allocates beyond what the input's size justifies.
#![no_main]

// The same decoding as the property test `crates/cairn-proto/tests/decode_random_bytes.rs`.
#[path = "../../crates/cairn-proto/tests/support/decode_everything.rs"]
mod decode_everything;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| decode_everything::decode_everything(data));
