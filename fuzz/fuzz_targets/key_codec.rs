//! Key decoding of untrusted bytes: an error or a key, never a panic; a decoded key encodes
//! to bytes that decode to the same key, and encodings keep the keys' order.
#![no_main]

use cairn_model::codec::{decode_key, try_encode_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Two keys from one input: split at the first 0xFE byte, if any.
    let split = data.iter().position(|&b| b == 0xFE).unwrap_or(data.len());
    let (a, b) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let (Ok(ka), Ok(kb)) = (decode_key(a), decode_key(b)) else {
        return;
    };
    let (Ok(ea), Ok(eb)) = (try_encode_key(&ka), try_encode_key(&kb)) else {
        panic!("a decoded key must encode again");
    };
    assert_eq!(
        decode_key(&ea).ok().as_ref(),
        Some(&ka),
        "round trip of {a:?}"
    );
    assert_eq!(
        decode_key(&eb).ok().as_ref(),
        Some(&kb),
        "round trip of {b:?}"
    );
    assert_eq!(
        ka.cmp(&kb),
        ea.cmp(&eb),
        "key order is byte order: {a:?} vs {b:?}"
    );
});
