"""The command line, run as a user would (in-process through vecdb.cli.main for speed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vecdb
from vecdb.cli import COMMANDS, build_parser, main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_npy_search_stats_backup(tmp_path, capsys, rng):
    x = rng.normal(size=(2500, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    data = str(tmp_path / "db")
    code, out, _ = run(capsys, "ingest", str(tmp_path / "x.npy"), "-c", "docs", "--data", data,
                       "--tenant", "acme", "--batch-size", "1000", "--no-progress")
    assert code == 0 and "ingested 2500 vectors" in out and "vectors/s" in out
    code, out, _ = run(capsys, "search", "-c", "docs", "-t", "acme", "-k", "3", "--data", data,
                       "--query=" + ",".join(map(str, x[42].tolist())))
    res = json.loads(out)
    assert code == 0 and res["ids"][0] == 42 and len(res["ids"]) == 3
    code, out, _ = run(capsys, "stats", "--data", data)
    assert json.loads(out)["collections"]["docs"]["vectors"] == 2500
    code, out, _ = run(capsys, "backup", str(tmp_path / "bk"), "--data", data)
    assert code == 0
    with vecdb.open(tmp_path / "bk") as db:
        assert db.collection("docs").count(tenant="acme") == 2500


def test_ingest_resume_skips_stored_batches(tmp_path, capsys, rng):
    np.save(tmp_path / "x.npy", rng.normal(size=(300, 4)).astype(np.float32))
    data = str(tmp_path / "db")
    args = ("ingest", str(tmp_path / "x.npy"), "-c", "c", "--data", data, "--batch-size", "100", "--no-progress")
    run(capsys, *args)
    code, out, _ = run(capsys, *args, "--resume")
    assert code == 0 and "skipped 300" in out


def test_ingest_fvecs(tmp_path, capsys, rng):
    x = rng.normal(size=(50, 5)).astype(np.float32)
    rows = np.hstack([np.full((50, 1), 5, np.int32).view(np.float32), x])
    rows.tofile(tmp_path / "x.fvecs")
    code, out, _ = run(capsys, "ingest", str(tmp_path / "x.fvecs"), "-c", "c", "--data", str(tmp_path / "db"),
                       "--id-start", "1000", "--no-progress")
    assert code == 0
    with vecdb.open(tmp_path / "db") as db:
        np.testing.assert_array_equal(db.collection("c").get([1007])[0].vector, x[7])


def test_ingest_jsonl_with_tenants_and_metadata(tmp_path, capsys):
    lines = [{"id": 1, "vector": [0, 0], "tenants": ["a", "b"], "metadata": {"lang": "en"}},
             {"id": 2, "vector": [1, 1], "tenant": "b"}]
    (tmp_path / "x.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    data = str(tmp_path / "db")
    code, _, _ = run(capsys, "ingest", str(tmp_path / "x.jsonl"), "-c", "c", "--data", data, "--no-progress")
    assert code == 0
    code, out, _ = run(capsys, "search", "-c", "c", "-t", "b", "--query", "[0, 0]", "--data", data,
                       "--where", '{"lang": "en"}')
    assert json.loads(out)["ids"] == [1]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [("not json\n", "x.jsonl", "not JSON"), ('{"id": 1}\n', "x.jsonl", "'vector'"),
     ('{"id": -1, "vector": [1]}\n', "x.jsonl", "negative"), ("x", "x.csv", "unsupported")],
)
def test_ingest_bad_input_is_a_clear_error(tmp_path, capsys, content, name, message):
    (tmp_path / name).write_text(content)
    code, _, err = run(capsys, "ingest", str(tmp_path / name), "-c", "c", "--data", str(tmp_path / "db"),
                       "--no-progress")
    assert code == 1 and message in err


def test_search_unknown_collection_and_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "search", "-c", "nope", "--query", "1,2", "--data", str(tmp_path / "db"))
    assert code == 1 and "CollectionNotFound" in err
    code, _, err = run(capsys, "ingest", str(tmp_path / "nofile.npy"), "-c", "c", "--data", str(tmp_path))
    assert code == 1 and "not found" in err


def test_every_command_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) <= set(COMMANDS)
    for name, p in sub.choices.items():
        assert p.description, f"`vecdb {name}` has no description"
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: vecdb " + name in capsys.readouterr().out


def test_demo_runs(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--data", str(tmp_path / "db"), "--vectors", "3000", "--tenants", "10")
    assert code == 0 and "recall@10" in out
