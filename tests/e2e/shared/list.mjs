// list: prefix, start/end, reverse, limit, cursor resume and batchSize over 1,500 entries (more
// than the 1,000 entries one snapshot read may return, so the client has to page).
import { assert, assertEquals, check, collect } from "./_lib.mjs";

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();
  const N = 1500;
  const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);
  const ids = (entries) => entries.map((e) => e.key[1]);
  // Written right next to the prefix ["items"] in key order, but not under it: a string that
  // starts with "items", the string "items\0" (encoded 02 items 00 FF 00), and the prefix key
  // itself where the client lists a prefix correctly with it (see prefixListSkipsPrefixKey).
  const neighbours = [
    ...(client.prefixListSkipsPrefixKey ? [[["items"], "prefix itself"]] : []),
    [["items\0"], "escaped neighbour"],
    [["itemr", 1], "before"],
    [["itemt", 1], "after"],
  ];

  await check(`write ${N} entries and the neighbours of their prefix`, async () => {
    for (const [from, to] of [[0, 750], [750, N]]) {
      const op = kv.atomic();
      for (const i of range(from, to)) op.set(["items", i], i);
      assert((await op.commit()).ok, "atomic write of a batch failed");
    }
    for (const [key, value] of neighbours) await kv.set(key, value);
  });

  await check(`prefix lists all ${N} entries in key order, nothing else`, async () => {
    const listed = await collect(kv.list({ prefix: ["items"] }));
    assertEquals(listed.length, N, "number of entries");
    assertEquals(ids(listed), range(0, N), "keys");
    assertEquals(listed.map((e) => e.value), range(0, N), "values");
  });

  await check("batchSize (1000, 7, 1) does not change the result", async () => {
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { batchSize: 1000 }))),
      range(0, N),
      "batchSize 1000",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { batchSize: 7, limit: 100 }))),
      range(0, 100),
      "batchSize 7",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { batchSize: 1, limit: 5 }))),
      range(0, 5),
      "batchSize 1",
    );
    const reversed = await collect(
      kv.list({ prefix: ["items"] }, { batchSize: 999, reverse: true }),
    );
    assertEquals(ids(reversed), range(0, N).reverse(), "batchSize 999 reverse");
  });

  await check("limit", async () => {
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { limit: 10 }))),
      range(0, 10),
      "limit 10",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { limit: 1001 }))),
      range(0, 1001),
      "limit 1001",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { limit: 5000 }))),
      range(0, N),
      "limit 5000",
    );
  });

  await check("reverse", async () => {
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { reverse: true }))),
      range(0, N).reverse(),
      "reverse",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { reverse: true, limit: 3 }))),
      [1499, 1498, 1497],
      "reverse limit 3",
    );
  });

  await check("start/end: start inclusive, end exclusive", async () => {
    const sel = { start: ["items", 100], end: ["items", 200] };
    assertEquals(ids(await collect(kv.list(sel))), range(100, 200), "start/end");
    assertEquals(
      ids(await collect(kv.list(sel, { reverse: true, limit: 5 }))),
      [199, 198, 197, 196, 195],
      "reverse limit 5",
    );
    assertEquals(
      ids(await collect(kv.list({ start: ["items", 5], end: ["items", 5] }))),
      [],
      "empty range",
    );
    // A range across the whole neighbourhood includes the neighbours.
    const wide = await collect(kv.list({ start: ["itemr"], end: ["itemu"] }));
    assertEquals(wide.length, N + neighbours.length, "entries between [itemr] and [itemu]");
  });

  await check("prefix with start, prefix with end", async () => {
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"], start: ["items", 1490] }))),
      range(1490, N),
      "prefix+start",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"], end: ["items", 5] }))),
      range(0, 5),
      "prefix+end",
    );
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"], end: ["items", 5] }, { reverse: true }))),
      range(0, 5).reverse(),
      "prefix+end reverse",
    );
  });

  await check("a cursor resumes where the previous list stopped", async () => {
    const first = kv.list({ prefix: ["items"] }, { limit: 600 });
    assertEquals(ids(await collect(first)), range(0, 600), "first page");
    const rest = await collect(kv.list({ prefix: ["items"] }, { cursor: first.cursor }));
    assertEquals(ids(rest), range(600, N), "resumed from the cursor");

    const back = kv.list({ prefix: ["items"] }, { reverse: true, limit: 10 });
    assertEquals(ids(await collect(back)), range(N - 10, N).reverse(), "first reverse page");
    const backRest = kv.list({ prefix: ["items"] }, {
      reverse: true,
      limit: 5,
      cursor: back.cursor,
    });
    assertEquals(
      ids(await collect(backRest)),
      range(N - 15, N - 10).reverse(),
      "resumed reverse page",
    );

    const sel = { start: ["items", 10], end: ["items", 30] };
    const part = kv.list(sel, { limit: 7 });
    assertEquals(ids(await collect(part)), range(10, 17), "first range page");
    assertEquals(
      ids(await collect(kv.list(sel, { cursor: part.cursor }))),
      range(17, 30),
      "resumed range",
    );
  });

  await check("page through everything with cursors, 250 at a time", async () => {
    const seen = [];
    let cursor;
    for (let page = 0; page < 10; page++) {
      const iter = kv.list({ prefix: ["items"] }, { limit: 250, cursor });
      const got = await collect(iter);
      if (got.length === 0) break;
      seen.push(...ids(got));
      cursor = iter.cursor;
    }
    assertEquals(seen, range(0, N), "all pages");
  });

  await check("list reflects deletes (500 deletes in one atomic write)", async () => {
    const op = kv.atomic();
    for (const i of range(500, 1000)) op.delete(["items", i]);
    assert((await op.commit()).ok, "atomic delete failed");
    const expected = [...range(0, 500), ...range(1000, N)];
    assertEquals(ids(await collect(kv.list({ prefix: ["items"] }))), expected, "after deletes");
    assertEquals(
      ids(await collect(kv.list({ prefix: ["items"] }, { reverse: true }))),
      expected.reverse(),
      "reverse after deletes",
    );
  });

  await check("an empty prefix lists nothing", async () => {
    assertEquals(await collect(kv.list({ prefix: ["nothing-here"] })), [], "empty prefix");
  });

  kv.close();
}
