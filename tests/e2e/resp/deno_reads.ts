// The Deno client reads what a Redis client wrote (docs/resp.md's mapping), and writes a
// string a Redis client then reads.
//
// Usage: DENO_KV_ACCESS_TOKEN=... deno run -A --unstable-kv deno_reads.ts URL
// Expects what crates/cairn/tests/e2e_resp.rs wrote with redis-cli. Prints `ok <check>`.

const kv = await Deno.openKv(Deno.args[0]);
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

function ok(name: string, condition: boolean) {
  if (!condition) throw new Error(`check failed: ${name}`);
  console.log(`ok ${name}`);
}

const greeting = await kv.get(["deno:greeting"]);
ok("a Redis string is a Uint8Array at [name]", greeting.value instanceof Uint8Array && text(greeting.value) === "hello from redis");
const visits = await kv.get(["deno:visits"]);
ok("a Redis counter is its decimal digits", text(visits.value) === "42");
const head = await kv.get<Deno.KvU64>(["deno:user"]);
ok("a Redis hash's head holds its field count", head.value instanceof Deno.KvU64 && head.value.value === 2n);
const fields: [string, string][] = [];
for await (const entry of kv.list({ prefix: ["deno:user"] })) {
  fields.push([String(entry.key[1]), text(entry.value)]);
}
ok("a Redis hash's fields are [name, field]", JSON.stringify(fields) === JSON.stringify([["lang", "en"], ["name", "Ada"]]));
const expiring = await kv.get(["deno:expiring"]);
ok("an expiring Redis key is readable until it expires", text(expiring.value) === "soon");

await kv.set(["deno:from-deno"], new TextEncoder().encode("written by Deno"));
ok("wrote a Uint8Array for the Redis client", true);
kv.close();
