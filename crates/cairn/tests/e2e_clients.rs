//! End-to-end tests with the real clients: each test starts the `cairn serve` binary on
//! 127.0.0.1 with a free port and a fresh data directory, then runs one scenario against it
//! through one client — on the Deno runtime (`Deno.openKv(url)`), or on Node.js with the npm
//! package `@deno/kv`. Both clients are pinned in `tools/package.json` and installed into
//! `tools/node_modules` by `tools/install.sh`, which the tests run first (it needs Node.js with
//! npm).
//!
//! Each scenario is written once, in plain JavaScript both runtimes load:
//! `tests/e2e/shared/<name>.mjs` exports `run(client)`. Its entry points
//! `tests/e2e/deno/<name>.ts` and `tests/e2e/node/<name>.mjs` hand it to their runtime's client
//! adapter (`tests/e2e/deno/_lib.ts`, `tests/e2e/node/_lib.mjs`), which opens databases, and
//! states through capability flags how its client differs (documented in
//! `tests/e2e/shared/_client.mjs`): the scenarios branch on those flags by name.
//!
//! A script prints `ok <check>` per passing check and exits non-zero at the first failure; a
//! failing test shows the script's output and the tail of the server log.
//!
//! | scenario | covers |
//! |---|---|
//! | `kv_basics` | set/get/delete, values of every encoding (V8, bytes, u64), getMany, eventual reads |
//! | `key_types` | every key part type round trips; the cross-type order via list |
//! | `list` | 1,500 entries: prefix, start/end, reverse, limit, cursors, batchSize |
//! | `atomic` | checks (must-not-exist, stale, fresh), racing writers, sum/min/max with wrap-around, type mismatch without side effects, versionstamped keys (Deno) |
//! | `expire_watch` | expireIn (gone promptly), watch (initial state, each change, expiry) |
//! | `limits` | the largest key, value, mutation and check counts accepted; one more refused with a message (by the Deno runtime itself; by the server under @deno/kv) |
//! | `access` | wrong token → 401, read-only token cannot write, isolated databases, derived data-path tokens |
//!
//! Run one by hand against a running server:
//!
//! ```sh
//! DENO="$(tools/install.sh)"
//! cargo run -- serve --data-dir /tmp/cairn-e2e --access-token rw --read-only-token ro &
//! DENO_KV_ACCESS_TOKEN=rw CAIRN_E2E_READ_ONLY_TOKEN=ro \
//!   "$DENO" run -A --unstable-kv tests/e2e/deno/list.ts http://127.0.0.1:4512
//! CAIRN_E2E_READ_ONLY_TOKEN=ro node tests/e2e/node/list.mjs http://127.0.0.1:4512 rw
//! ```

mod e2e;

use e2e::Client;

/// One `#[test]` per script and client: `deno::<name>` and `node::<name>`.
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        /// Every script name, for [`every_script_has_a_test`].
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];

        mod deno {
            $(
                #[test]
                fn $name() {
                    crate::e2e::run_script(crate::Client::Deno, stringify!($name));
                }
            )*
        }

        mod node {
            $(
                #[test]
                fn $name() {
                    crate::e2e::run_script(crate::Client::Node, stringify!($name));
                }
            )*
        }
    };
}

scripts!(
    kv_basics,
    key_types,
    list,
    atomic,
    expire_watch,
    limits,
    access
);

/// A scenario added to tests/e2e/shared without a test here (or without an entry point for
/// each client) would silently never run.
#[test]
fn every_script_has_a_test() {
    let mut expected: Vec<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        e2e::scenario_names(),
        expected,
        "the scenarios in tests/e2e/shared and the scripts! list in {} differ",
        file!()
    );
    for client in [Client::Deno, Client::Node] {
        assert_eq!(
            e2e::script_names(client),
            expected,
            "the {client:?} scripts and the scripts! list in {} differ",
            file!()
        );
    }
}
