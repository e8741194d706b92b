"""The console of `python -m mojolite`: kernels typed at the prompt compile and run, and a
kernel without source (plain `python -c`) is an error that says what to do instead."""
import os
import subprocess
import sys
import textwrap

SESSION = textwrap.dedent("""\
    from mojolite import kernel, Tensor, f32
    @kernel
    def double(x: Tensor[f32]):
        for i in range(x.shape[0]):
            x[i] = 2 * x[i]

    a = np.arange(4, dtype=np.float32)
    double(a); print("result", a.tolist())
    @kernel
    def broken(x: Tensor[f32]):
        x[0] = undefined_thing

    broken(a)
""")


def console(stdin: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mojolite"], input=stdin, capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ), timeout=120)


def test_kernels_defined_at_the_prompt_run(tmp_path):
    out = console(SESSION, tmp_path)
    assert "result [0.0, 2.0, 4.0, 6.0]" in out.stdout, out.stdout + out.stderr


def test_errors_at_the_prompt_point_into_the_typed_source(tmp_path):
    out = console(SESSION, tmp_path)
    assert "name 'undefined_thing' is not defined" in out.stderr
    assert "x[0] = undefined_thing" in out.stderr and "^^^^^^^^^^^^^^^" in out.stderr
    assert "<mojolite-input-" in out.stderr
    assert "mojolite/typer" not in out.stderr          # no compiler frames in the traceback


def test_the_banner_names_the_target(tmp_path):
    out = console("", tmp_path)
    assert "mojolite" in out.stderr and "target:" in out.stderr


def test_no_source_says_how_to_define_kernels(tmp_path):
    code = ("import mojolite as ml\nfrom mojolite import kernel, f32\n"
            "exec('def f(a: f32) -> f32:\\n    return a')\n"
            "try:\n    kernel(f)\nexcept ml.CompileError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "cannot find the source of 'f'" in out.stdout, out.stdout + out.stderr
    assert "python -m mojolite" in out.stdout and "IPython" in out.stdout


def test_info_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mojolite", "info"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    for field in ("target:", "vector bits:", "simd widths:", "threads:", "matrix tiles:", "cache:", "features:"):
        assert field in out.stdout, out.stdout
