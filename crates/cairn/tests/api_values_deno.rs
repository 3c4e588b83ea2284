//! Typed JSON and V8 against the real Deno runtime, both ways: every kind of value Deno writes
//! reads through the JSON API as the documented typed JSON, and every typed JSON the API writes
//! (with cairn's own V8 encoder) reads in Deno as the JavaScript value it describes; a value
//! the API cannot represent stays read-only and unchanged. The script is
//! `tests/e2e/api/values_deno.ts`.

mod e2e;

use e2e::Server;

#[test]
fn typed_json_round_trips_through_deno() {
    let server = Server::start();
    let output = e2e::run_deno_script(&server, "api/values_deno.ts", &[]);
    assert!(
        output.contains("ok a shared reference is read-only"),
        "the script did not reach its end:\n{output}"
    );
    println!("{output}");
}
