"""The disk cache of compiled code and autotuning records.

Each test runs processes (or the cache functions) against a cache directory of
its own under tmp_path: entries persist across processes, a changed callee or
another feature set gets a new entry, a damaged entry is rebuilt with a warning,
the directory is private and one writable by others is refused.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from mojolite.runtime import cache as cache_mod

KERNELS = textwrap.dedent("""
    import numpy as np
    import mojolite as ml
    from mojolite import kernel, Tensor, f32

    SCALE = {scale}

    @kernel
    def helper(v: f32) -> f32:
        return v * {factor}

    @kernel
    def scaled(x: Tensor[f32], out: Tensor[f32]):
        for i in range(x.shape[0]):
            out[i] = helper(x[i]) + SCALE
""")

MAIN = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("always")
    from kernels import scaled, np
    import mojolite as ml
    x = np.arange(4, dtype=np.float32)
    out = np.zeros(4, np.float32)
    target = sys.argv[1] if len(sys.argv) > 1 else "host"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ml.use_target(target):
            scaled(x, out)
    spec = next(iter(scaled._specs.values()))
    print(json.dumps({"out": out.tolist(), "compiled": spec.typed is not None,
                      "llvm": "llvmlite.binding" in sys.modules,
                      "warnings": [str(w.message) for w in caught]}))
""")


def run(tmp_path, cache_dir, *args, scale=1.0, factor=2.0):
    (tmp_path / "kernels.py").write_text(KERNELS.format(scale=scale, factor=factor))
    (tmp_path / "main.py").write_text(MAIN)
    env = dict(os.environ, MOJOLITE_CACHE_DIR=str(cache_dir), MOJOLITE_CACHE="1")
    proc = subprocess.run([sys.executable, "main.py", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def entries(cache_dir, fast_calls=False):
    """The kernels' entries (or, `fast_calls`, those of the per-signature fast calls from Python)."""
    out = []
    for p in sorted(os.listdir(cache_dir)):
        if p.endswith(".o"):
            with open(os.path.join(cache_dir, p[:-2] + ".json"), encoding="utf-8") as f:
                if ("fast_call" in json.load(f)) == fast_calls:
                    out.append(p)
    return out


def test_a_second_process_loads_instead_of_compiling(tmp_path):
    d = tmp_path / "cache"
    first = run(tmp_path, d)
    second = run(tmp_path, d)
    assert first["compiled"] and not second["compiled"]
    assert first["out"] == second["out"] == [1.0, 3.0, 5.0, 7.0]
    assert len(entries(d)) == 1
    assert len(entries(d, fast_calls=True)) == 1        # one for the signature, built once
    assert first["llvm"] and not second["llvm"]         # cached code runs without loading LLVM


def test_the_host_description_is_kept_and_a_damaged_one_asked_again(tmp_path):
    d = tmp_path / "cache"
    run(tmp_path, d)
    records = [p for p in os.listdir(d) if p.startswith("record-host-")]
    assert len(records) == 1
    with open(d / records[0], encoding="utf-8") as f:
        assert json.load(f)["host"][2]                  # the features LLVM reported
    for damage in ('{"host": 5}', "not json"):
        (d / records[0]).write_text(damage)
        again = run(tmp_path, d)
        assert not again["compiled"] and again["llvm"]   # LLVM asked again, the kernel still cached
        with open(d / records[0], encoding="utf-8") as f:
            assert json.load(f)["host"][2]


def test_a_changed_callee_or_global_invalidates_the_caller(tmp_path):
    d = tmp_path / "cache"
    run(tmp_path, d)
    changed = run(tmp_path, d, factor=3.0)             # only the callee's source changed
    assert changed["compiled"] and changed["out"] == [1.0, 4.0, 7.0, 10.0]
    constant = run(tmp_path, d, factor=3.0, scale=0.0)  # only a global constant changed
    assert constant["compiled"] and constant["out"] == [0.0, 3.0, 6.0, 9.0]
    assert len(entries(d)) == 3


def test_code_for_another_feature_set_is_not_used(tmp_path):
    """The same kernel built for x86-64-v3 and for the host are two entries, never mixed up."""
    d = tmp_path / "cache"
    host = run(tmp_path, d, "host")
    v3 = run(tmp_path, d, "x86-64-v3")
    assert host["compiled"] and v3["compiled"]
    assert len(entries(d)) == 2
    assert not run(tmp_path, d, "x86-64-v3")["compiled"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "bad-json"])
def test_a_damaged_entry_is_rebuilt_with_a_warning(tmp_path, damage):
    d = tmp_path / "cache"
    run(tmp_path, d)
    obj = d / entries(d)[0]
    if damage == "truncate":
        obj.write_bytes(obj.read_bytes()[:100])
    elif damage == "garbage":
        obj.write_bytes(os.urandom(len(obj.read_bytes())))
    else:
        obj.with_suffix(".json").write_text("{not json")
    again = run(tmp_path, d)
    assert again["compiled"] and again["out"] == [1.0, 3.0, 5.0, 7.0]
    assert any("rebuilding" in w or "unreadable" in w for w in again["warnings"]), again["warnings"]
    assert not run(tmp_path, d)["compiled"]             # the rebuilt entry is good


def test_processes_compiling_at_once_share_the_directory(tmp_path):
    d = tmp_path / "cache"
    (tmp_path / "kernels.py").write_text(KERNELS.format(scale=1.0, factor=2.0))
    (tmp_path / "main.py").write_text(MAIN)
    env = dict(os.environ, MOJOLITE_CACHE_DIR=str(d), MOJOLITE_CACHE="1")
    procs = [subprocess.Popen([sys.executable, "main.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["out"] == [1.0, 3.0, 5.0, 7.0]
    assert len(entries(d)) == 1
    assert not [f for f in os.listdir(d) if f.endswith(".tmp")]
    assert not run(tmp_path, d)["compiled"]


def test_the_directory_is_created_private(tmp_path, monkeypatch):
    d = tmp_path / "fresh" / "cache"
    monkeypatch.setattr(cache_mod.settings, "cache_dir", str(d))
    monkeypatch.setattr(cache_mod.settings, "cache", True)
    c = cache_mod.DiskCache()
    assert c.usable
    assert stat.S_IMODE(os.stat(d).st_mode) & 0o077 == 0


def test_a_directory_writable_by_others_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    monkeypatch.setattr(cache_mod.settings, "cache_dir", str(d))
    monkeypatch.setattr(cache_mod.settings, "cache", True)
    with pytest.warns(cache_mod.CacheWarning, match="writable by other users"):
        c = cache_mod.DiskCache()
    assert not c.usable
    assert c.get("0" * 64) is None
    c.put("0" * 64, b"code", {})
    assert os.listdir(d) == []


def test_put_and_get_round_trip_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod.settings, "cache_dir", str(tmp_path / "c"))
    monkeypatch.setattr(cache_mod.settings, "cache", True)
    c = cache_mod.DiskCache()
    c.put("k" * 64, b"\x7fELF-bytes", {"a": 1})
    obj, meta = c.get("k" * 64)
    assert obj == b"\x7fELF-bytes" and meta["a"] == 1
    (tmp_path / "c" / ("k" * 64 + ".o")).write_bytes(b"\x7fELF-bytez")
    with pytest.warns(cache_mod.CacheWarning, match="checksum"):
        assert c.get("k" * 64) is None
    assert c.clear() == 1 and c.entries() == []


def test_cache_off_writes_nothing(tmp_path):
    d = tmp_path / "cache"
    (tmp_path / "kernels.py").write_text(KERNELS.format(scale=1.0, factor=2.0))
    (tmp_path / "main.py").write_text(MAIN)
    env = dict(os.environ, MOJOLITE_CACHE_DIR=str(d), MOJOLITE_CACHE="0")
    proc = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not d.exists() or entries(d) == []


def test_cache_command_line(tmp_path):
    d = tmp_path / "cache"
    run(tmp_path, d)
    env = dict(os.environ, MOJOLITE_CACHE_DIR=str(d))
    info = subprocess.run([sys.executable, "-m", "mojolite", "cache", "info"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert "entries:         2" in info.stdout and str(d) in info.stdout     # the kernel, its signature's fast call
    clear = subprocess.run([sys.executable, "-m", "mojolite", "cache", "clear"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "removed 2" in clear.stdout and entries(d) == [] and entries(d, fast_calls=True) == []


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    """mojolite.tuning with tuning on, a fresh cache directory and nothing in memory."""
    from mojolite import tuning as at
    monkeypatch.setattr(cache_mod.settings, "cache_dir", str(tmp_path / "c"))
    monkeypatch.setattr(cache_mod.settings, "cache", True)
    monkeypatch.setattr(at.settings, "autotune", True)
    monkeypatch.setattr(at, "_memory", {})
    return at


def test_autotune_winner_is_timed_again_when_the_kernels_change(tuning, monkeypatch):
    import mojolite as ml
    at = tuning
    calls = []

    class Timed:                              # a kernel as autotune sees it: its fingerprint
        version = "1"

        def fingerprint(self):
            return self.version
    k = Timed()
    cands = [{"n": 20000}, {"n": 10}]
    ml.autotune("t", cands, lambda c: calls.append(c), bucket=(1,), kernels=(k,))
    monkeypatch.setattr(at, "_memory", {})
    calls.clear()
    ml.autotune("t", cands, lambda c: calls.append(c), bucket=(1,), kernels=(k,))
    assert calls == []                        # the record answers
    k.version = "2"                           # the kernel's source changed
    monkeypatch.setattr(at, "_memory", {})
    ml.autotune("t", cands, lambda c: calls.append(c), bucket=(1,), kernels=(k,))
    assert calls                              # timed again


def test_autotune_keeps_the_default_within_the_noise(tuning, monkeypatch):
    import mojolite as ml
    at = tuning
    clock = [0.0]
    monkeypatch.setattr(at.time, "perf_counter", lambda: clock[0])

    def run(cfg):                             # a clock that advances by each candidate's cost
        clock[0] += cfg["cost"]
    default = {"cost": 1.0}
    assert ml.autotune("t", [default, {"cost": 0.98}], run, bucket=(1,), default=default) == default
    assert ml.autotune("t", [default, {"cost": 0.9}], run, bucket=(2,), default=default) == {"cost": 0.9}


def test_autotune_keeps_the_default_when_a_challenger_won_by_chance(tuning, monkeypatch):
    """A candidate that wins the search, but not the round of it and the default alone (its
    turns fell in a quiet spell), does not replace the default."""
    import mojolite as ml
    at = tuning
    clock = [0.0]
    monkeypatch.setattr(at.time, "perf_counter", lambda: clock[0])
    runs = {"lucky": 0, "steady": 0}

    def run(cfg):
        runs[cfg["name"]] += 1
        lucky = cfg["name"] == "lucky" and runs["lucky"] <= 6      # its warm-up and 5 search runs
        clock[0] += 0.9 if lucky else cfg["cost"]
    default, challenger = {"name": "steady", "cost": 1.0}, {"name": "lucky", "cost": 1.0}
    assert ml.autotune("t", [default, challenger], run, bucket=(1,), default=default) == default
    assert runs == {"steady": 11, "lucky": 11}          # warm-up, the search, the round of two
    runs.update(lucky=0, steady=0)
    always = {"name": "lucky", "cost": 0.9}             # faster in both rounds: it wins
    assert ml.autotune("t", [default, always], run, bucket=(2,), default=default) == always


def test_autotune_keeps_the_winner(tuning, monkeypatch):
    import mojolite as ml
    at = tuning
    calls = []

    def run(cfg):
        calls.append(cfg["n"])
        sum(range(cfg["n"]))                  # the larger n, the slower
    cands = [{"n": 200000}, {"n": 10}, {"n": 50000}]
    assert ml.autotune("t", cands, run, bucket=(1,)) == {"n": 10}
    assert len(calls) == 3 * 6                # a warm-up and five timed runs each
    assert calls[3:6] == [200000, 10, 50000]  # timed in turns
    monkeypatch.setattr(at, "_memory", {})    # a new process: the record on disk answers
    calls.clear()
    assert ml.autotune("t", cands, run, bucket=(1,)) == {"n": 10} and calls == []
    assert ml.autotune("t", cands, run, bucket=(2,)) == {"n": 10} and calls   # another bucket: timed
    monkeypatch.setattr(at.settings, "autotune", False)
    assert ml.autotune("t", cands, run, bucket=(3,), default={"n": 50000}) == {"n": 50000}
    with pytest.raises(ValueError, match="no candidates"):
        ml.autotune("t", [], run)
