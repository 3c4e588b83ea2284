// Scenarios of the Redis protocol front end with ioredis (npm), pinned in this folder's
// package.json and installed by tools/install_resp.sh.
//
// Usage: node ioredis.mjs HOST PORT READ_WRITE_TOKEN READ_ONLY_TOKEN
// Prints `ok <check>` per passing check; exits non-zero at the first failure.

import Redis from "ioredis";

const [host, portText, rw, ro] = process.argv.slice(2);
const port = Number(portText);
const connect = (password = rw, db = 0) =>
  new Redis({ host, port, password, db, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });

function ok(name, condition = true) {
  if (!condition) throw new Error(`check failed: ${name}`);
  console.log(`ok ${name}`);
}

async function refused(name, promise, text) {
  try {
    await promise;
  } catch (e) {
    ok(name, String(e.message).includes(text));
    return;
  }
  throw new Error(`check failed: ${name} (no error)`);
}

const r = connect();
await r.connect();

// strings and counters
ok("set/get", (await r.set("js:k", "v")) === "OK" && (await r.get("js:k")) === "v");
ok("set nx", (await r.set("js:k", "x", "NX")) === null);
ok("incr", (await r.incr("js:n")) === 1 && (await r.incrby("js:n", 41)) === 42);
ok("decrby", (await r.decrby("js:n", 2)) === 40);
ok("binary values", (await r.set("js:bin", Buffer.from([0, 255, 10]))) === "OK" &&
  Buffer.compare(await r.getBuffer("js:bin"), Buffer.from([0, 255, 10])) === 0);
await refused("incr on text", r.incr("js:k"), "not an integer");

// expiry
await r.set("js:t", "v", "EX", 100);
const ttl = await r.ttl("js:t");
ok("ttl", ttl >= 99 && ttl <= 100);
ok("pexpire/pttl", (await r.pexpire("js:t", 5000)) === 1 && (await r.pttl("js:t")) <= 5000);
ok("persist", (await r.persist("js:t")) === 1 && (await r.ttl("js:t")) === -1);

// hashes
ok("hset", (await r.hset("js:h", { a: "1", b: "2" })) === 2);
const all = await r.hgetall("js:h");
ok("hgetall", all.a === "1" && all.b === "2" && Object.keys(all).length === 2);
ok("hincrby", (await r.hincrby("js:h", "a", 5)) === 6);
ok("hlen/hdel", (await r.hdel("js:h", "b")) === 1 && (await r.hlen("js:h")) === 1);
await refused("wrongtype", r.get("js:h"), "WRONGTYPE");

// MULTI/EXEC with WATCH conflict
const other = connect();
await other.connect();
await r.set("js:stock", "10");
await r.watch("js:stock");
await other.decr("js:stock");
const aborted = await r.multi().set("js:stock", "0").exec();
ok("watch conflict: exec answers null", aborted === null);
ok("nothing written", (await r.get("js:stock")) === "9");
await r.watch("js:stock");
const done = await r.multi().decr("js:stock").get("js:stock").exec();
ok("exec without conflict", done[0][1] === 8 && done[1][1] === "8");

// pipelining
const pipe = r.pipeline();
for (let i = 0; i < 1000; i++) pipe.set(`js:p:${i}`, String(i));
for (let i = 0; i < 1000; i++) pipe.get(`js:p:${i}`);
const results = await pipe.exec();
ok("pipeline of 2000", results.slice(1000).every(([err, v], i) => err === null && v === String(i)));

// SCAN over 10,000 keys
const fill = r.pipeline();
for (let i = 0; i < 10000; i++) fill.set(`js:scan:${i}`, "v");
await fill.exec();
const seen = new Set();
await new Promise((resolve, reject) => {
  const stream = r.scanStream({ match: "js:scan:*", count: 500 });
  stream.on("data", (keys) => keys.forEach((k) => seen.add(k)));
  stream.on("end", resolve);
  stream.on("error", reject);
});
ok("scan over 10,000 keys", seen.size === 10000);
ok("keys with a pattern", (await r.keys("js:scan:999*")).length === 11);
await r.set("js:old", "v");
ok("rename", (await r.rename("js:old", "js:new")) === "OK" && (await r.get("js:new")) === "v");

// AUTH and the read-only token
const reader = connect(ro);
await reader.connect();
ok("read-only token reads", (await reader.get("js:k")) === "v");
await refused("read-only token cannot write", reader.set("js:k", "x"), "NOPERM");
// No password, so no ready check (its INFO would be refused before AUTH, as by Redis).
const wrong = new Redis({ host, port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
await wrong.connect();
await refused("unauthenticated refused", wrong.get("js:k"), "NOAUTH");
await refused("wrong token refused", wrong.auth("wrong-token"), "WRONGPASS");

// SELECT
const db7 = connect(rw, 7);
await db7.connect();
ok("select 7 is another database", (await db7.get("js:k")) === null);

for (const c of [r, other, reader, db7]) c.disconnect();
wrong.disconnect();
