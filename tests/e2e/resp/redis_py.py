"""Scenarios of the Redis protocol front end with redis-py (PyPI `redis`), RESP2 and RESP3.

Usage: redis_py.py HOST PORT READ_WRITE_TOKEN READ_ONLY_TOKEN
Prints `ok <check>` per passing check; the first failure raises (non-zero exit).
"""

import sys
import time

import redis

host, port, rw, ro = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def client(token=rw, protocol=2, db=0):
    return redis.Redis(host=host, port=port, password=token, protocol=protocol, db=db)


def ok(name, condition=True):
    if not condition:
        raise AssertionError(name)
    print(f"ok {name}", flush=True)


r = client()
r.flushdb = None  # not supported by cairn; never called

# strings
ok("set/get", r.set("py:greeting", "hello") and r.get("py:greeting") == b"hello")
ok("set nx refused", r.set("py:greeting", "x", nx=True) is None)
ok("set get returns old", r.set("py:greeting", "bye", get=True) == b"hello")
ok("mset/mget", r.mset({"py:a": "1", "py:b": "2"}) and r.mget("py:a", "py:b", "py:none") == [b"1", b"2", None])
ok("append/strlen", r.append("py:a", "23") == 3 and r.strlen("py:a") == 3)
ok("getdel", r.getdel("py:b") == b"2" and r.exists("py:b") == 0)

# counters
ok("incr", r.incr("py:n") == 1 and r.incrby("py:n", 9) == 10 and r.decr("py:n") == 9)
try:
    r.incr("py:greeting")
    ok("incr on text refused", False)
except redis.ResponseError as e:
    ok("incr on text refused", "not an integer" in str(e))

# expiry
r.set("py:temp", "v", ex=100)
ok("ttl", 99 <= r.ttl("py:temp") <= 100)
ok("persist", r.persist("py:temp") and r.ttl("py:temp") == -1)
ok("incrbyfloat", r.incrbyfloat("py:float", 0.1) == 0.1 and r.incrbyfloat("py:float", 0.2) == 0.3)
ok("setex", r.setex("py:cached", 100, "v") and r.get("py:cached") == b"v")
ok("setex ttl", 99 <= r.ttl("py:cached") <= 100)
ok("psetex", r.psetex("py:cached", 50000, "w") and 40000 <= r.pttl("py:cached") <= 50000)
r.set("py:short", "v", px=50)
deadline = time.time() + 30
while r.exists("py:short"):
    if time.time() > deadline:
        raise AssertionError("py:short never expired")
    time.sleep(0.02)
ok("px expiry removes the key")

# hashes
ok("hset", r.hset("py:user", mapping={"name": "Ada", "born": "1815"}) == 2)
ok("hgetall", r.hgetall("py:user") == {b"name": b"Ada", b"born": b"1815"})
ok("hincrby", r.hincrby("py:user", "born", 1) == 1816)
ok("hdel/hlen", r.hdel("py:user", "born") == 1 and r.hlen("py:user") == 1)
ok("type", r.type("py:user") == b"hash" and r.type("py:a") == b"string")
try:
    r.get("py:user")
    ok("wrongtype", False)
except redis.ResponseError as e:
    ok("wrongtype", "WRONGTYPE" in str(e))

# MULTI/EXEC with WATCH: a conflict from another connection aborts the transaction
other = client()
r.set("py:balance", "100")
with r.pipeline() as p:
    p.watch("py:balance")
    balance = int(p.get("py:balance"))
    other.incrby("py:balance", 5)  # another client changes it meanwhile
    p.multi()
    p.set("py:balance", balance - 10)
    try:
        p.execute()
        ok("watch conflict aborts exec", False)
    except redis.WatchError:
        ok("watch conflict aborts exec")
ok("nothing written by the aborted exec", r.get("py:balance") == b"105")


def withdraw(p):
    balance = int(p.get("py:balance"))
    p.multi()
    p.set("py:balance", balance - 10)


r.transaction(withdraw, "py:balance")
ok("transaction retried to success", r.get("py:balance") == b"95")
with r.pipeline(transaction=True) as p:
    p.incr("py:t").incr("py:t").get("py:t")
    ok("multi/exec", p.execute() == [1, 2, b"2"])

# pipelining
with r.pipeline(transaction=False) as p:
    for i in range(1000):
        p.set(f"py:pipe:{i}", i)
    for i in range(1000):
        p.get(f"py:pipe:{i}")
    replies = p.execute()
ok("pipeline of 2000", replies[:1000] == [True] * 1000 and replies[1000:] == [str(i).encode() for i in range(1000)])

# SCAN over 10,000 keys
with r.pipeline(transaction=False) as p:
    for i in range(10_000):
        p.set(f"py:scan:{i}", "v")
    p.execute()
seen = set(r.scan_iter(match="py:scan:*", count=500))
ok("scan over 10,000 keys", len(seen) == 10_000)
ok("dbsize", r.dbsize() >= 10_000)

# AUTH and read-only refusal
reader = client(token=ro)
ok("read-only token reads", reader.get("py:greeting") == b"bye")
try:
    reader.set("py:greeting", "x")
    ok("read-only token cannot write", False)
except redis.exceptions.NoPermissionError:
    ok("read-only token cannot write")
try:
    client(token="wrong").ping()
    ok("wrong token refused", False)
except redis.AuthenticationError:
    ok("wrong token refused")

# SELECT maps to another database
db5 = client(db=5)
ok("select 5 is a separate database", db5.get("py:greeting") is None and db5.set("py:greeting", "five"))
ok("database 0 unchanged", r.get("py:greeting") == b"bye")

# RESP3
r3 = client(protocol=3)
ok("resp3 hello", r3.ping())
ok("resp3 map", r3.hgetall("py:user") == {b"name": b"Ada"})
ok("resp3 null", r3.get("py:none") is None)

# What the Deno client reads afterwards (see deno_reads.ts)
r.set("deno:greeting", "hello from redis")
r.set("deno:visits", 0)
r.incrby("deno:visits", 42)
r.hset("deno:user", mapping={"name": "Ada", "lang": "en"})
ok("wrote keys for the Deno client")
