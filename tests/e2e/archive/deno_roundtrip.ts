// Data written by the real Deno client to `cairn serve --archive`, then read back from a
// server started on the restored directory (crates/cairn/tests/e2e_archive_deno.rs):
//   DENO_KV_ACCESS_TOKEN=<token> deno run -A --unstable-kv deno_roundtrip.ts <url> write|check
// `write` stores the entries below and prints "versionstamp <hex>" of the last commit;
// `check` reads every one back and compares it (deep equality, through the runtime's own
// V8 deserializer) with what `write` stored.
import { deepStrictEqual } from "node:assert";

const [url, mode] = Deno.args;

function entries(): [Deno.KvKey, unknown][] {
  return [
    [["string"], "hello, archive"],
    [["number", 1.5], 42.25],
    [["bigint", 7n], 12345678901234567890n],
    [["bytes", new Uint8Array([1, 2, 3])], new Uint8Array([9, 8, 7])],
    [["u64"], new Deno.KvU64(18446744073709551615n)],
    [["object"], { name: "ada", tags: ["a", "b"], nested: { n: null, ok: true } }],
    [["map"], new Map<string, unknown>([["k", 1], ["when", new Date(1700000000000)]])],
    [["set"], new Set([1, "two", 3n])],
    [["date", true], new Date(1764752400000)],
    [["regexp"], /ca.rn/gi],
    ...Array.from({ length: 50 }, (_, i): [Deno.KvKey, unknown] => [["many", i], { i }]),
  ];
}

const kv = await Deno.openKv(url);
if (mode === "write") {
  let last = "";
  for (const [key, value] of entries()) {
    const result = await kv.set(key, value);
    last = result.versionstamp;
  }
  await kv.atomic().sum(["counter"], 5n).commit();
  const done = await kv.atomic().sum(["counter"], 6n).commit();
  if (!done.ok) throw new Error("sum failed");
  last = done.versionstamp;
  console.log(`versionstamp ${last}`);
} else if (mode === "check") {
  for (const [key, value] of entries()) {
    const entry = await kv.get(key);
    const what = `value of ${JSON.stringify(key, (_, v) => typeof v === "bigint" ? `${v}n` : v)}`;
    if (value instanceof Deno.KvU64) {
      // Its number is not an own property: compare it directly.
      deepStrictEqual((entry.value as Deno.KvU64).value, value.value, what);
    } else {
      deepStrictEqual(entry.value, value, what);
    }
  }
  const counter = await kv.get<Deno.KvU64>(["counter"]);
  deepStrictEqual(counter.value?.value, 11n);
  console.log(`ok ${entries().length + 1} entries read back unchanged`);
} else {
  console.error("mode must be write or check");
  Deno.exit(2);
}
kv.close();
