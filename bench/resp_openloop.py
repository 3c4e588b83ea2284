"""Open-loop latency of SET through redis-py: THREADS clients, each pausing an exponentially
distributed time (mean THINK_MS) before every command, as an application's requests arrive;
prints the latency percentiles of the commands and how many ran.

    python3 bench/resp_openloop.py PORT PASSWORD THREADS COMMANDS_PER_THREAD THINK_MS
"""

import random
import sys
import threading
import time

import redis


def main() -> None:
    port, password = int(sys.argv[1]), sys.argv[2] or None
    threads, per, think_ms = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    latencies: list[float] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        r = redis.Redis(host="127.0.0.1", port=port, password=password)
        r.ping()
        rnd = random.Random(seed)
        mine = []
        for n in range(per):
            time.sleep(rnd.expovariate(1000.0 / think_ms))
            start = time.perf_counter()
            r.set(f"openloop:{seed}:{n % 100}", "v")
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1e3

    print(f"n={len(latencies)} p50_ms={pct(0.5):.2f} p90_ms={pct(0.9):.2f} p99_ms={pct(0.99):.2f}")


if __name__ == "__main__":
    main()
