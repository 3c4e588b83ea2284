// Limits (kv-connect.md §6) through @deno/kv (Node.js), which checks none of them itself, so
// every refusal here is the server's: a 400 with a plain-text reason, which the client throws as
// "Unexpected response status: 400 <reason>". The largest key, value and mutation count are
// accepted, one more is refused, and nothing of a refused write is applied.
import { assert, assertEquals, assertRejects, check, collect, finish, openKv } from "./_lib.mjs";

const kv = await openKv();

// ["L", "x" * n] encodes as 02 'L' 00 02 <n bytes> 00: n + 5 bytes.
const keyOfSize = (bytes) => ["L", "x".repeat(bytes - 5)];

await check("a key of 2048 bytes is accepted", async () => {
  assert((await kv.set(keyOfSize(2048), "max")).ok, "set failed");
  assertEquals((await kv.get(keyOfSize(2048))).value, "max", "value under the largest key");
});

await check("a key of 2049 bytes is refused with a 400 and a message", async () => {
  await assertRejects(() => kv.set(keyOfSize(2049), "too long"), /400.*key.*2048/i, "set");
  const listed = await collect(kv.list({ prefix: ["L"] }));
  assertEquals(listed.map((e) => e.value), ["max"], "entries under [L]");
});

await check("a value of 65,536 bytes is accepted", async () => {
  const value = new Uint8Array(65_536).fill(7);
  assert((await kv.set(["V", "max"], value)).ok, "set failed");
  assertEquals((await kv.get(["V", "max"])).value, value, "largest value");
});

await check("a value of 65,537 bytes is refused with a 400 and a message", async () => {
  await assertRejects(
    () => kv.set(["V", "over"], new Uint8Array(65_537)),
    /400.*value.*65536/i,
    "bytes value",
  );
  await assertRejects(
    () => kv.set(["V", "over"], "x".repeat(65_537)),
    /400.*value.*65536/i,
    "string value",
  );
  assertEquals((await kv.get(["V", "over"])).versionstamp, null, "refused value");
});

await check("1,000 mutations in one atomic write are accepted", async () => {
  const op = kv.atomic();
  for (let i = 0; i < 1000; i++) op.set(["M", "ok", i], i);
  assert((await op.commit()).ok, "commit failed");
  assertEquals((await collect(kv.list({ prefix: ["M", "ok"] }))).length, 1000, "entries written");
});

await check(
  "1,001 mutations are refused with a 400 and a message, and none is applied",
  async () => {
    const op = kv.atomic();
    for (let i = 0; i < 1001; i++) op.set(["M", "over", i], i);
    await assertRejects(() => op.commit(), /400.*mutations.*1000/i, "commit");
    assertEquals(
      await collect(kv.list({ prefix: ["M", "over"] })),
      [],
      "entries of the refused write",
    );
  },
);

await check("100 checks in one atomic write are accepted", async () => {
  const op = kv.atomic();
  for (let i = 0; i < 100; i++) op.check({ key: ["C", i], versionstamp: null });
  assert((await op.set(["C", "done"], true).commit()).ok, "commit with 100 passing checks failed");
});

await check("101 checks are refused with a 400 and a message", async () => {
  const op = kv.atomic();
  for (let i = 0; i < 101; i++) op.check({ key: ["C2", i], versionstamp: null });
  await assertRejects(() => op.set(["C2", "done"], true).commit(), /400.*checks.*100/i, "commit");
  assertEquals((await kv.get(["C2", "done"])).versionstamp, null, "the refused write's key");
});

await check("an atomic write over 819,200 bytes in total is refused with a 400", async () => {
  const op = kv.atomic();
  const value = new Uint8Array(65_536);
  for (let i = 0; i < 13; i++) op.set(["T", i], value); // 13 × 64 KiB = 851,968 bytes
  await assertRejects(() => op.commit(), /400.*(total|size|819200)/i, "commit");
  assertEquals(await collect(kv.list({ prefix: ["T"] })), [], "entries of the refused write");
});

await check("a read range with a start key over 2049 bytes is refused with a 400", async () => {
  // get(key) reads [key, ...): a 2050-byte key is over the read limit.
  await assertRejects(() => kv.get(keyOfSize(2050)), /400.*key/i, "get");
});

await check("the connection works after the refusals", async () => {
  assert((await kv.set(["after"], 1)).ok, "set failed");
  assertEquals((await kv.get(["after"])).value, 1, "value");
});

finish(kv);
