#!/usr/bin/env python3
"""Reproducible synthetic events for `clustermatch batch` benchmarks.

Draws N participants from a profile corpus made by /work/shared/bench/gen_corpus.py (or any
JSONL of profiles), gives each a random availability (most are free all day, some only in the
morning, the afternoon or a random window) and sometimes a meeting cap, and writes requests
(pairs that asked to meet, with a priority, and pairs to keep apart).

    python3 gen_corpus.py -n 20000 --seed 42 -o /tmp/cm/c20k.jsonl
    python3 benches/gen_event.py --corpus /tmp/cm/c20k.jsonl -n 2000 --slots 24 --seed 7 \
        --out /tmp/cm/ev2000

writes OUT/participants.jsonl and OUT/requests.csv. Deterministic for a given seed and corpus.
"""
import argparse
import csv
import json
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--slots", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--requests", type=float, default=0.5,
                    help="meet requests per participant (on average)")
    ap.add_argument("--apart", type=float, default=0.1,
                    help="keep-apart pairs per participant (on average)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    with open(a.corpus, encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f if line.strip()]
    if a.n > len(corpus):
        raise SystemExit(f"corpus has {len(corpus)} profiles, fewer than {a.n}")
    chosen = rnd.sample(corpus, a.n)
    chosen.sort(key=lambda p: p["id"])
    os.makedirs(a.out, exist_ok=True)
    s = a.slots
    half = s // 2
    with open(os.path.join(a.out, "participants.jsonl"), "w", encoding="utf-8") as f:
        for p in chosen:
            q = dict(p)
            r = rnd.random()
            if r < 0.60:
                pass  # free all day
            elif r < 0.75:
                q["availability"] = f"1-{half}"
            elif r < 0.90:
                q["availability"] = f"{half + 1}-{s}"
            else:
                lo = rnd.randint(1, s - 3)
                hi = rnd.randint(lo + 2, s)
                q["availability"] = f"{lo}-{hi}"
            if rnd.random() < 0.2:
                q["max_meetings"] = rnd.choice([3, 4, 5, 6, 10, 12])
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    ids = [p["id"] for p in chosen]
    seen = set()
    rows = []

    def pair():
        x, y = rnd.sample(ids, 2)
        k = tuple(sorted((x, y)))
        if k in seen:
            return None
        seen.add(k)
        return k

    for _ in range(int(a.n * a.requests)):
        k = pair()
        if k:
            rows.append([k[0], k[1], "meet", rnd.choice([1, 1, 1, 2, 3]), ""])
    for _ in range(int(a.n * a.apart)):
        k = pair()
        if k:
            rows.append([k[0], k[1], "apart", "", rnd.choice(["competitors", "already partners", "met before"])])
    with open(os.path.join(a.out, "requests.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "type", "priority", "note"])
        w.writerows(rows)
    print(f"{a.n} participants, {len(rows)} requests -> {a.out}")


if __name__ == "__main__":
    main()
