//! The RESP request parser on untrusted bytes: a request, "incomplete" or a protocol error,
//! never a panic; a request takes at least one byte and at most the input; a request cut
//! short is incomplete (nothing allocated, no error); the arguments re-encoded as a
//! RESP array parse back to themselves; each argument is bounded by the limits. The first two
//! arguments of each request also go through INCRBYFLOAT's arithmetic (values and increments
//! come from clients): a number or a refusal, never a panic.
#![no_main]

use cairn_resp::limits::{ARRAY_LEN_MAX, BULK_BYTES_MAX};
use cairn_resp::parse::parse;
use libfuzzer_sys::fuzz_target;

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    // A pipeline: requests one after another until incomplete or an error.
    while let Ok(Some(request)) = parse(rest) {
        assert!(request.len >= 1 && request.len <= rest.len());
        assert!(request.args.len() <= ARRAY_LEN_MAX);
        assert!(request.args.iter().all(|a| a.len() <= BULK_BYTES_MAX));
        let cut = request.len / 2;
        assert_eq!(parse(&rest[..cut]), Ok(None));
        if rest.first() == Some(&b'*') {
            let again = parse(&encode(&request.args)).expect("re-encoded").expect("complete");
            assert_eq!(again.args, request.args);
        }
        if let [a, b, ..] = &request.args[..] {
            if let Ok(sum) = cairn_resp::float::add(a, b) {
                assert!(!sum.is_empty() && cairn_resp::float::add(sum.as_bytes(), b"0").is_ok());
            }
        }
        rest = &rest[request.len..];
    }
});
