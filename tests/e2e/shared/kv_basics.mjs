// set / get / delete, value encodings and getMany.
import {
  assert,
  assertEquals,
  assertRejects,
  check,
  collect,
  show,
  VERSIONSTAMP,
} from "./_lib.mjs";

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();

  let first;
  await check("set returns ok and a versionstamp", async () => {
    first = await kv.set(["basics", "a"], "hello");
    assert(first.ok, "set did not report ok");
    assert(VERSIONSTAMP.test(first.versionstamp), `bad versionstamp ${show(first.versionstamp)}`);
  });

  await check("get returns the value and the commit's versionstamp", async () => {
    const entry = await kv.get(["basics", "a"]);
    assertEquals(entry.key, ["basics", "a"], "key");
    assertEquals(entry.value, "hello", "value");
    assertEquals(entry.versionstamp, first.versionstamp, "versionstamp");
  });

  await check("get of a missing key returns null value and versionstamp", async () => {
    const entry = await kv.get(["basics", "missing"]);
    assertEquals(entry.value, null, "value");
    assertEquals(entry.versionstamp, null, "versionstamp");
  });

  await check("overwriting gives a greater versionstamp", async () => {
    const second = await kv.set(["basics", "a"], "world");
    assert(
      second.versionstamp > first.versionstamp,
      `${second.versionstamp} <= ${first.versionstamp}`,
    );
    const entry = await kv.get(["basics", "a"]);
    assertEquals(entry.value, "world", "value after overwrite");
    assertEquals(entry.versionstamp, second.versionstamp, "versionstamp after overwrite");
  });

  await check("delete removes the key; deleting a missing key is a no-op", async () => {
    await kv.delete(["basics", "a"]);
    assertEquals((await kv.get(["basics", "a"])).value, null, "value after delete");
    await kv.delete(["basics", "never-existed"]);
  });

  // V8-serialized values (by the Deno runtime, or by node:v8 under @deno/kv) are opaque bytes to
  // the server; Uint8Array travels as VE_BYTES and KvU64 as VE_LE64.
  const values = [
    "",
    "héllo wörld 🌍",
    0,
    -0,
    1.5,
    NaN,
    -Infinity,
    2n ** 200n,
    -7n,
    true,
    false,
    null,
    undefined,
    { a: 1, b: [1, "x", { c: null }], d: { e: 2n } },
    [1, [2, [3]]],
    new Date(1_700_000_000_000),
    new Map([["k", 1], [2, "v"]]),
    new Set([1, "two", 3n]),
    new Uint8Array([]),
    new Uint8Array([0, 1, 2, 255]),
    new client.KvU64(0n),
    new client.KvU64(2n ** 64n - 1n),
  ];

  await check("values of every encoding round trip (V8, bytes, u64)", async () => {
    for (const [i, value] of values.entries()) {
      const res = await kv.set(["values", i], value);
      const entry = await kv.get(["values", i]);
      assertEquals(entry.value, value, `value #${i}`);
      assertEquals(entry.versionstamp, res.versionstamp, `versionstamp of value #${i}`);
    }
    const listed = await collect(kv.list({ prefix: ["values"] }));
    assertEquals(listed.map((e) => e.value), values, "listed values");
  });

  await check("getMany returns entries in request order, with nulls for missing keys", async () => {
    const stamps = [];
    for (let i = 0; i < 9; i++) stamps.push((await kv.set(["many", i], `v${i}`)).versionstamp);
    // Not in key order, and one missing key in the middle.
    const order = [5, 0, 8, 99, 3, 1, 7, 2, 6, 4];
    const entries = await kv.getMany(order.map((i) => ["many", i]));
    assertEquals(entries.length, 10, "number of entries");
    for (const [pos, i] of order.entries()) {
      const entry = entries[pos];
      assertEquals(entry.key, ["many", i], `key at ${pos}`);
      assertEquals(entry.value, i === 99 ? null : `v${i}`, `value at ${pos}`);
      assertEquals(entry.versionstamp, i === 99 ? null : stamps[i], `versionstamp at ${pos}`);
    }
  });

  // The Deno runtime refuses this itself, before sending anything; @deno/kv sends one range per
  // key without checking the count, so there the refusal is the server's 400.
  const refuser = client.checksLimits
    ? "the client (at most 10 keys)"
    : "the server (at most 10 ranges)";
  await check(`getMany of 11 keys is refused by ${refuser}`, async () => {
    const keys = Array.from({ length: 11 }, (_, i) => ["many", i]);
    const pattern = client.checksLimits ? /too many|10/i : /400.*(too many|10)/i;
    await assertRejects(() => kv.getMany(keys), pattern, "getMany of 11 keys");
  });

  await check("eventual-consistency reads see the data too", async () => {
    await kv.set(["basics", "eventual"], 42);
    const entry = await kv.get(["basics", "eventual"], { consistency: "eventual" });
    assertEquals(entry.value, 42, "eventual get");
    const listed = await collect(kv.list({ prefix: ["basics"] }, { consistency: "eventual" }));
    assertEquals(listed.map((e) => e.key), [["basics", "eventual"]], "eventual list");
  });

  kv.close();
}
