// Atomic writes: checks (must-not-exist, stale, fresh), all-or-nothing, racing writers,
// versionstamp order, sum/min/max on KvU64 with wrap-around, a type mismatch that fails without
// side effects, and versionstamped keys (kv.commitVersionstamp()) where the client has them.
import {
  assert,
  assertEquals,
  assertRejects,
  check,
  collect,
  committed,
  VERSIONSTAMP,
} from "./_lib.mjs";

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();
  const U64_MAX = 2n ** 64n - 1n;
  const u64 = async (key) => (await kv.get(key)).value?.value;

  await check("check must-not-exist passes when the key is absent", async () => {
    const res = await kv.atomic().check({ key: ["acct", "a"], versionstamp: null }).set(
      ["acct", "a"],
      1,
    ).commit();
    assert(res.ok, "commit with a passing must-not-exist check was refused");
  });

  await check(
    "check must-not-exist fails when the key exists, and nothing is applied",
    async () => {
      const before = await kv.get(["acct", "a"]);
      const res = await kv.atomic()
        .check({ key: ["acct", "a"], versionstamp: null })
        .set(["acct", "a"], 2)
        .set(["acct", "side"], "x")
        .commit();
      assertEquals(res.ok, false, "ok");
      assertEquals(await kv.get(["acct", "a"]), before, "checked key after the failed commit");
      assertEquals((await kv.get(["acct", "side"])).value, null, "other key of the failed commit");
    },
  );

  await check("check with the fresh versionstamp passes; with a stale one fails", async () => {
    const stale = await kv.get(["acct", "a"]);
    const res = await kv.atomic().check(stale).set(["acct", "a"], 3).commit();
    assert(res.ok, "commit with a fresh versionstamp check was refused");
    assert(res.versionstamp > stale.versionstamp, "commit versionstamp did not increase");
    const again = await kv.atomic().check(stale).set(["acct", "a"], 4).commit();
    assertEquals(again.ok, false, "ok of a commit checked against a stale versionstamp");
    const now = await kv.get(["acct", "a"]);
    assertEquals(
      [now.value, now.versionstamp],
      [3, res.versionstamp],
      "value after the stale commit",
    );
  });

  await check("one failing check among several fails the whole write", async () => {
    await kv.set(["acct", "b"], 10);
    const a = await kv.get(["acct", "a"]);
    const b = await kv.get(["acct", "b"]);
    await kv.set(["acct", "b"], 11); // makes `b` stale
    const res = await kv.atomic().check(a, b).set(["acct", "a"], 100).delete(["acct", "b"])
      .commit();
    assertEquals(res.ok, false, "ok");
    assertEquals((await kv.get(["acct", "a"])).value, 3, "a unchanged");
    assertEquals((await kv.get(["acct", "b"])).value, 11, "b unchanged");
  });

  await check("all mutations of one atomic write share its versionstamp", async () => {
    const res = await kv.atomic().set(["same", 1], "x").set(["same", 2], "y").sum(["same", 3], 1n)
      .commit();
    assert(res.ok && VERSIONSTAMP.test(res.versionstamp), "commit failed");
    const entries = await kv.getMany([["same", 1], ["same", 2], ["same", 3]]);
    assertEquals(entries.map((e) => e.versionstamp), [
      res.versionstamp,
      res.versionstamp,
      res.versionstamp,
    ], "versionstamps");
  });

  await check("versionstamps increase strictly, also across concurrent commits", async () => {
    let last = "";
    for (let i = 0; i < 20; i++) {
      const { versionstamp } = await kv.set(["seq"], i);
      assert(versionstamp > last, `versionstamp ${versionstamp} after ${last}`);
      last = versionstamp;
    }
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) => kv.set(["conc", i], i)),
    );
    const stamps = results.map((r) => r.versionstamp);
    assertEquals(
      new Set(stamps).size,
      stamps.length,
      "distinct versionstamps of 32 concurrent commits",
    );
    assert(
      stamps.every((s) => s > last),
      "a concurrent commit got a versionstamp below an earlier one",
    );
  });

  await check("two writers racing on one key: exactly one wins (20 rounds)", async () => {
    for (let round = 0; round < 20; round++) {
      await kv.set(["race"], `round ${round}`);
      const seen = await kv.get(["race"]);
      const [x, y] = await Promise.all([
        kv.atomic().check(seen).set(["race"], `x${round}`).commit(),
        kv.atomic().check(seen).set(["race"], `y${round}`).commit(),
      ]);
      assertEquals([x.ok, y.ok].filter(Boolean).length, 1, `winners in round ${round}`);
      const winner = committed(x.ok ? x : y, "the winner");
      const now = await kv.get(["race"]);
      assertEquals(now.value, x.ok ? `x${round}` : `y${round}`, `value after round ${round}`);
      assertEquals(now.versionstamp, winner.versionstamp, `versionstamp after round ${round}`);
    }
  });

  await check("eight writers racing to create one key: exactly one wins", async () => {
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          kv.atomic().check({ key: ["claim"], versionstamp: null }).set(["claim"], i).commit(),
      ),
    );
    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    assertEquals(winners.length, 1, "number of winners");
    assertEquals((await kv.get(["claim"])).value, winners[0], "value of the claimed key");
  });

  await check("check-and-set increments from 4 concurrent workers lose no update", async () => {
    await kv.set(["cas"], 0);
    const worker = async () => {
      for (let done = 0, attempts = 0; done < 10; attempts++) {
        assert(attempts < 2000, "a worker needed more than 2000 attempts");
        const e = await kv.get(["cas"]);
        if ((await kv.atomic().check(e).set(["cas"], e.value + 1).commit()).ok) done++;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    assertEquals((await kv.get(["cas"])).value, 40, "counter");
  });

  await check("sum: a missing key takes the operand, then adds", async () => {
    assert((await kv.atomic().sum(["n", "sum"], 5n).commit()).ok, "sum failed");
    assertEquals(await u64(["n", "sum"]), 5n, "after the first sum");
    await kv.atomic().sum(["n", "sum"], 10n).commit();
    assertEquals(await u64(["n", "sum"]), 15n, "after the second sum");
    const entry = await kv.get(["n", "sum"]);
    assert(entry.value instanceof client.KvU64, "the sum is not read back as the client's KvU64");
  });

  await check("sum wraps around modulo 2^64", async () => {
    await kv.set(["n", "wrap"], new client.KvU64(U64_MAX));
    await kv.atomic().sum(["n", "wrap"], 1n).commit();
    assertEquals(await u64(["n", "wrap"]), 0n, "max + 1");
    await kv.atomic().sum(["n", "wrap"], U64_MAX).commit();
    assertEquals(await u64(["n", "wrap"]), U64_MAX, "0 + max");
    await kv.atomic().sum(["n", "wrap"], U64_MAX).commit();
    assertEquals(await u64(["n", "wrap"]), U64_MAX - 1n, "max + max");
  });

  await check("min and max compare as unsigned 64-bit integers", async () => {
    await kv.atomic().min(["n", "min"], 7n).max(["n", "max"], 7n).commit();
    assertEquals(
      [await u64(["n", "min"]), await u64(["n", "max"])],
      [7n, 7n],
      "missing keys take the operand",
    );
    await kv.atomic().min(["n", "min"], 3n).max(["n", "max"], 3n).commit();
    assertEquals([await u64(["n", "min"]), await u64(["n", "max"])], [3n, 7n], "operand 3");
    await kv.atomic().min(["n", "min"], U64_MAX).max(["n", "max"], U64_MAX).commit();
    assertEquals(
      [await u64(["n", "min"]), await u64(["n", "max"])],
      [3n, U64_MAX],
      "operand 2^64-1",
    );
    await kv.atomic().min(["n", "min"], 0n).commit();
    assertEquals(await u64(["n", "min"]), 0n, "min with 0");
  });

  await check("mutations of one atomic write apply in order", async () => {
    await kv.set(["n", "seq"], new client.KvU64(15n));
    await kv.atomic().sum(["n", "seq"], 1n).max(["n", "seq"], 100n).min(["n", "seq"], 50n).sum([
      "n",
      "seq",
    ], 2n).commit();
    assertEquals(await u64(["n", "seq"]), 52n, "((15 + 1) max 100) min 50 + 2");
    await kv.atomic().set(["n", "seq2"], "gone").delete(["n", "seq2"]).sum(["n", "seq2"], 9n)
      .commit();
    assertEquals(await u64(["n", "seq2"]), 9n, "set, delete, sum");
  });

  for (const op of ["sum", "min", "max"]) {
    await check(`${op} on a non-u64 value fails with a message and applies nothing`, async () => {
      const strRes = await kv.set(["mismatch", op, "str"], "not a number");
      // 8 bytes, but VE_BYTES rather than VE_LE64: still not a u64.
      const bytesRes = await kv.set(["mismatch", op, "bytes"], new Uint8Array(8));
      for (const [target, res] of [["str", strRes], ["bytes", bytesRes]]) {
        const atomic = kv.atomic().set(["mismatch", op, "side"], "side effect").sum([
          "mismatch",
          op,
          "counter",
        ], 1n);
        atomic[op](["mismatch", op, target], 1n);
        await assertRejects(
          () => atomic.commit(),
          new RegExp(`${op}.*U64|U64.*${op}`, "i"),
          `${op} on the ${target} value`,
        );
        const entry = await kv.get(["mismatch", op, target]);
        assertEquals(entry.versionstamp, res.versionstamp, `versionstamp of the ${target} value`);
        const others = await kv.getMany([["mismatch", op, "side"], ["mismatch", op, "counter"]]);
        assertEquals(
          others.map((e) => e.value),
          [null, null],
          `other mutations of the failed write (${target})`,
        );
      }
      assertEquals((await kv.get(["mismatch", op, "str"])).value, "not a number", "string value");
    });
  }

  // Versionstamped keys need client support (see versionstampedKeys): a `set` whose key ends
  // with the symbol kv.commitVersionstamp() becomes M_SET_SUFFIX_VERSIONSTAMPED_KEY; the server
  // appends the commit's versionstamp as a string part (kv-connect.md §4).
  if (client.versionstampedKeys) {
    await check("versionstamped key: the suffix is the commit's versionstamp", async () => {
      const stamp = kv.commitVersionstamp();
      const res = await kv.atomic().set(["vlog", "user", stamp], "first").commit();
      assert(res.ok, "commit failed");
      const listed = await collect(kv.list({ prefix: ["vlog", "user"] }));
      assertEquals(listed.map((e) => [e.key, e.value, e.versionstamp]), [[
        ["vlog", "user", res.versionstamp],
        "first",
        res.versionstamp,
      ]], "entries");
    });

    await check(
      "versionstamped keys from concurrent commits are distinct and list in commit order",
      async () => {
        const stamp = kv.commitVersionstamp();
        const results = await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) => kv.atomic().set(["vlog", "many", stamp], i).sum(["vlog-count"], 1n).commit(),
          ),
        );
        const listed = await collect(kv.list({ prefix: ["vlog", "many"] }));
        assertEquals(listed.length, 10, "number of versionstamped entries");
        for (const e of listed) {
          assertEquals(e.key[2], e.versionstamp, "key suffix vs the entry's versionstamp");
        }
        const expected = results.map((r) => committed(r, "a versionstamped write").versionstamp)
          .sort();
        assertEquals(listed.map((e) => e.key[2]), expected, "keys in versionstamp order");
        assertEquals(await u64(["vlog-count"]), 10n, "counter summed in the same commits");
      },
    );
  }

  kv.close();
}
