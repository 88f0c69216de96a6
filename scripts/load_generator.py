"""Load generator for the lab's load balancers: run inside an LB container.

    python3 load_generator.py CLIENTS LIMIT_SECONDS STATS_FILE STOP_FILE [RATE]

CLIENTS threads loop on new connections to the shop frontend (127.0.0.1:8080)
and count answers and errors into STATS_FILE twice a second, until STOP_FILE
exists or LIMIT_SECONDS passed. With RATE, each client sends at most RATE
requests a second, evenly spaced, as production's clients arrive; without it
(or 0) each sends as fast as the machine allows, which measures the machine's
CPU more than the load balancer and starves whatever runs beside it. Standard
library only: the LB image has no extra packages. Used by benchmarks/gate_bench.py and
molecule/pipeline/tests/test_under_load.py, which send it with `python3 -c`.
"""
import json, os, sys, threading, time, urllib.request
clients, limit = int(sys.argv[1]), float(sys.argv[2])
stats, stop = sys.argv[3], sys.argv[4]
rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
done = {"requests": 0, "errors": 0}
lock = threading.Lock()
end = time.monotonic() + limit

def client():
    interval = 1 / rate if rate > 0 else 0.0
    due = time.monotonic()
    while time.monotonic() < end and not os.path.exists(stop):
        if interval:
            # The next request is due one interval after the last one was; a
            # client that fell behind does not burst to catch up.
            due = max(due + interval, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))
        try:
            with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5) as answer:
                answer.read()
            key = "requests"
        except Exception:
            key = "errors"
        with lock:
            done[key] += 1

def write():
    with lock:
        text = json.dumps(dict(done, pid=os.getpid()))
    with open(stats + ".tmp", "w") as handle:
        handle.write(text)
    os.replace(stats + ".tmp", stats)

threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
for thread in threads:
    thread.start()
while any(thread.is_alive() for thread in threads):
    write()
    time.sleep(0.5)
write()
