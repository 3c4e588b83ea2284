// Limits (kv-connect.md §6): the largest key, value, mutation and check counts are accepted, one
// more is refused with a message, and nothing of a refused write is applied.
//
// Who refuses depends on the client (see checksLimits). The Deno runtime enforces these limits
// itself and refuses before sending anything, so there this shows that cairn accepts everything
// up to the limits the runtime allows. @deno/kv checks none of them, so there every refusal is
// the server's own: a 400 with a plain-text reason, which the client throws as
// "Unexpected response status: 400 <reason>".
import { assert, assertEquals, assertRejects, check, collect } from "./_lib.mjs";

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();
  /** The message to expect: the client's own refusal, or the server's 400. */
  const refusal = (byClient, byServer) => client.checksLimits ? byClient : byServer;
  const refused = refusal("refused with a message", "refused with a 400 and a message");
  const refusedPlain = refusal("refused", "refused with a 400");

  // ["L", "x" * n] encodes as 02 'L' 00 02 <n bytes> 00: n + 5 bytes.
  const keyOfSize = (bytes) => ["L", "x".repeat(bytes - 5)];

  await check("a key of 2048 bytes is accepted", async () => {
    assert((await kv.set(keyOfSize(2048), "max")).ok, "set failed");
    assertEquals((await kv.get(keyOfSize(2048))).value, "max", "value under the largest key");
  });

  await check(`a key of 2049 bytes is ${refused}`, async () => {
    await assertRejects(
      () => kv.set(keyOfSize(2049), "too long"),
      refusal(/key.*(too large|2048)/i, /400.*key.*2048/i),
      "set",
    );
    const listed = await collect(kv.list({ prefix: ["L"] }));
    assertEquals(listed.map((e) => e.value), ["max"], "entries under [L]");
  });

  await check("a value of 65,536 bytes is accepted", async () => {
    const value = new Uint8Array(65_536).fill(7);
    assert((await kv.set(["V", "max"], value)).ok, "set failed");
    assertEquals((await kv.get(["V", "max"])).value, value, "largest value");
  });

  await check(`a value of 65,537 bytes is ${refused}`, async () => {
    const pattern = refusal(/value.*(too large|65536)/i, /400.*value.*65536/i);
    await assertRejects(
      () => kv.set(["V", "over"], new Uint8Array(65_537)),
      pattern,
      "bytes value",
    );
    await assertRejects(() => kv.set(["V", "over"], "x".repeat(65_537)), pattern, "string value");
    assertEquals((await kv.get(["V", "over"])).versionstamp, null, "refused value");
  });

  await check("1,000 mutations in one atomic write are accepted", async () => {
    const op = kv.atomic();
    for (let i = 0; i < 1000; i++) op.set(["M", "ok", i], i);
    assert((await op.commit()).ok, "commit failed");
    assertEquals(
      (await collect(kv.list({ prefix: ["M", "ok"] }))).length,
      1000,
      "entries written",
    );
  });

  await check(`1,001 mutations are ${refused}, and none is applied`, async () => {
    const op = kv.atomic();
    for (let i = 0; i < 1001; i++) op.set(["M", "over", i], i);
    await assertRejects(
      () => op.commit(),
      refusal(/too many mutations|1000/i, /400.*mutations.*1000/i),
      "commit",
    );
    assertEquals(
      await collect(kv.list({ prefix: ["M", "over"] })),
      [],
      "entries of the refused write",
    );
  });

  await check("100 checks in one atomic write are accepted", async () => {
    const op = kv.atomic();
    for (let i = 0; i < 100; i++) op.check({ key: ["C", i], versionstamp: null });
    assert(
      (await op.set(["C", "done"], true).commit()).ok,
      "commit with 100 passing checks failed",
    );
  });

  await check(`101 checks are ${refused}`, async () => {
    const op = kv.atomic();
    for (let i = 0; i < 101; i++) op.check({ key: ["C2", i], versionstamp: null });
    await assertRejects(
      () => op.set(["C2", "done"], true).commit(),
      refusal(/too many checks|100/i, /400.*checks.*100/i),
      "commit",
    );
    assertEquals((await kv.get(["C2", "done"])).versionstamp, null, "the refused write's key");
  });

  await check(`an atomic write over 819,200 bytes in total is ${refusedPlain}`, async () => {
    const op = kv.atomic();
    const value = new Uint8Array(65_536);
    for (let i = 0; i < 13; i++) op.set(["T", i], value); // 13 × 64 KiB = 851,968 bytes
    await assertRejects(
      () => op.commit(),
      refusal(/total mutation size|too large|819200/i, /400.*(total|size|819200)/i),
      "commit",
    );
    assertEquals(await collect(kv.list({ prefix: ["T"] })), [], "entries of the refused write");
  });

  await check(`a read range with a start key over 2049 bytes is ${refusedPlain}`, async () => {
    // get(key) reads [key, ...): a 2050-byte key is over the read limit. The Deno runtime says
    // "Key too large for read (max 2049 bytes)".
    await assertRejects(
      () => kv.get(keyOfSize(2050)),
      refusal(/key too large for read|2049/i, /400.*key/i),
      "get",
    );
  });

  await check("the connection works after the refusals", async () => {
    assert((await kv.set(["after"], 1)).ok, "set failed");
    assertEquals((await kv.get(["after"])).value, 1, "value");
  });

  kv.close();
}
