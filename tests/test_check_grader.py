"""`npbackprop check`: the default table, the template, and grading learners' files.

The learners live in tests/learners/: ninja.py is right everywhere,
mistakes.py has one deliberate mistake per function. At the lecture's size
the reference is the torch fixture (fast); other sizes use complex-step
derivatives on small shapes.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npbackprop import chunked, layers
from npbackprop.check import command as check_cmd
from npbackprop.check import diagnose, grader, learner, setups
from npbackprop.names import GRAD_NAMES, INTERMEDIATES

LEARNERS = Path(__file__).parent / "learners"
NINJA = str(LEARNERS / "ninja.py")
MISTAKES = str(LEARNERS / "mistakes.py")
ROOT = Path(__file__).parents[1]


def run(capsys, *argv):
    """check_cmd.main(argv) -> (exit code, stdout, stderr)."""
    code = check_cmd.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def row(out, name, section=0):
    """The table line of `name` (in the section-th table that has one) and its diagnosis."""
    lines = out.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(f"{name:15s} | exact:")]
    i = hits[section]
    after = lines[i + 1] if i + 1 < len(lines) else ""
    return lines[i], (after.strip()[3:] if after.strip().startswith("->") else "")


def table_rows(out):
    return [line for line in out.splitlines() if " | exact: " in line]


@pytest.fixture(scope="module")
def lecture():
    return setups.make_setup()


# -----------------------------------------------------------------------------
# the default check: our own backward passes

def test_default_check_prints_the_full_table_and_passes(capsys):
    code, out, err = run(capsys)
    assert code == 0, out
    rows = table_rows(out)
    # 26 against torch, 26 against complex steps, exercise 2, exercise 3
    assert len(rows) == 2 * 26 + 2
    assert [r.split()[0] for r in rows[:26]] == list(GRAD_NAMES)
    assert [r.split()[0] for r in rows[26:52]] == list(GRAD_NAMES)
    assert [r.split()[0] for r in rows[52:]] == ["logits", "hprebn"]
    assert all("approximate: True " in r for r in rows)
    assert "vs torch (float64)" in out and "vs complex-step derivatives (float64)" in out
    # the tolerances, printed: torch's and the complex steps' are both exact to rounding
    assert out.count("<= 1e-08 + 1e-05 * |reference|") == 4
    assert "complex steps are exact to rounding" in out
    assert "54/54 rows within tolerance: OK" in out
    assert row(out, "logprobs")[0].startswith("logprobs        | exact: True  | approximate: True")


def test_default_check_fails_when_our_backward_is_wrong(capsys, monkeypatch):
    right = chunked.backward

    def bessel_dropped(cache):
        grads = right(cache)
        n = cache["n"]
        return {**grads, "bndiff2": grads["bndiff2"] * (n - 1) / n}

    monkeypatch.setattr(chunked, "backward", bessel_dropped)
    code, out, _ = run(capsys, "--exercise", 1, "--batch-size", 4, "--n-hidden", 5)
    assert code == 1
    line, diagnosis = row(out, "bndiff2")
    assert "mismatch" in line and "Bessel" in diagnosis
    assert "25/26 rows within tolerance: NOT OK" in out


def test_default_check_fails_when_the_fused_batchnorm_is_wrong(capsys, monkeypatch):
    def no_bessel(dout, cache):
        raw, var_inv, gain, bias_shape = cache[:4]
        n = dout.shape[0]
        dx = gain * var_inv / n * (n * dout - dout.sum(0) - raw * (dout * raw).sum(0))
        return dx, None, None

    monkeypatch.setattr(layers, "batchnorm_backward", no_bessel)
    code, out, _ = run(capsys, "--exercise", 3)
    assert code == 1
    line, diagnosis = row(out, "hprebn")
    assert "mismatch" in line and "Bessel's correction" in diagnosis


def test_default_check_at_another_size_uses_complex_steps_only(capsys):
    code, out, _ = run(capsys, "--batch-size", 4, "--n-hidden", 5, "--seed", 1)
    assert code == 0, out
    assert "vs torch" not in out and "seed 1 (N 4, T 3, E 10, H 5, V 27" in out
    assert len(table_rows(out)) == 26 + 2


# -----------------------------------------------------------------------------
# the template

def write_template(capsys, tmp_path):
    code, out, _ = run(capsys, "--template")
    assert code == 0
    path = tmp_path / "mine.py"
    path.write_text(out)
    return path


def test_template_is_accepted_as_it_stands(capsys, tmp_path):
    path = write_template(capsys, tmp_path)
    code, out, err = run(capsys, "--impl", path)
    assert code == 1 and err == ""
    assert out.count("| not attempted") == 26
    assert "0/26 attempted, 0 correct" in out
    for exercise, func in ((2, "cross_entropy_backward"), (3, "batchnorm_backward")):
        code, out, _ = run(capsys, "--exercise", exercise, "--impl", f"{path}:{func}")
        assert code == 1 and "0/1 attempted, 0 correct" in out


def test_template_lists_every_gradient_in_the_lectures_order(capsys, tmp_path):
    text = write_template(capsys, tmp_path).read_text()
    body = text[text.index("def backward("):text.index("def cross_entropy_backward(")]
    assigned = [line.split()[0][1:] for line in body.splitlines()
                if line.startswith("    d") and line.endswith(" = None")]
    assert assigned == list(GRAD_NAMES)


def template_forward():
    """The forward pass the template shows in its comment block, as code."""
    lines = learner.TEMPLATE_PATH.read_text().splitlines()
    start = lines.index("# H n_hidden, V vocab_size, n = N:") + 2
    end = lines.index("", start)
    return "\n".join(line[6:] for line in lines[start:end] if line.startswith("#     "))


def test_template_forward_is_the_chunked_forward(lecture):
    # the forward pass shown in the template file, run, gives chunked.forward's values
    scope = {"np": np, **lecture.params, "Xb": lecture.Xb, "Yb": lecture.Yb,
             "n": lecture.Xb.shape[0]}
    code = template_forward()
    assert code.count("\n") >= 20
    exec(code, scope)
    for name in INTERMEDIATES:
        np.testing.assert_allclose(scope[name], lecture.cache[name], rtol=1e-12, atol=0)


def test_partly_filled_template(capsys, tmp_path):
    path = write_template(capsys, tmp_path)
    text = path.read_text()
    for name, code in (("logprobs", "np.zeros_like(logprobs)\n"
                                    "    dlogprobs[np.arange(n), Yb] = -1.0 / n"),
                       ("probs", "dlogprobs / probs"),
                       ("counts_sum_inv", "(counts * dprobs).sum(1, keepdims=True)")):
        text = text.replace(f"    d{name} = None\n", f"    d{name} = {code}\n")
    path.write_text(text)
    code, out, _ = run(capsys, "--impl", f"{path}:backward")
    assert code == 1
    for name in ("logprobs", "probs", "counts_sum_inv"):
        assert row(out, name)[0].rstrip().endswith("approximate: True  | maxdiff: " +
                                                    row(out, name)[0].split("maxdiff: ")[1])
        assert "| not attempted" not in row(out, name)[0]
    assert row(out, "counts_sum")[0].endswith("| not attempted")
    assert out.count("| not attempted") == 23
    assert "3/26 attempted, 3 correct" in out


# -----------------------------------------------------------------------------
# complete learners

def test_correct_learner_passes_all_three_exercises(capsys):
    code, out, _ = run(capsys, "--impl", f"{NINJA}:backward")
    assert code == 0, out
    assert "26/26 correct" in out and len(table_rows(out)) == 26
    for exercise, name in ((2, "logits"), (3, "hprebn")):
        code, out, _ = run(capsys, "--exercise", exercise, "--impl", NINJA)  # default FUNC
        assert code == 0, out
        assert "1/1 correct" in out and "approximate: True" in row(out, name)[0]


def test_correct_learner_at_other_sizes_against_complex_steps(capsys):
    code, out, _ = run(capsys, "--impl", NINJA, "--n-hidden", 7, "--batch-size", 5,
                       "--n-embd", 3, "--block-size", 2, "--vocab-size", 6, "--seed", 1)
    assert code == 0, out
    assert "reference: complex-step derivatives" in out and "26/26 correct" in out
    assert "<= 1e-08 + 1e-05 * |reference| (torch.allclose defaults; complex steps" in out


def test_learner_gets_copies(lecture, tmp_path):
    before = {k: np.copy(v) for k, v in lecture.cache.items()}
    path = tmp_path / "vandal.py"
    path.write_text("def backward(cache):\n"
                    "    for x in cache.values():\n"
                    "        if hasattr(x, 'fill'):\n"
                    "            x.fill(0)\n"
                    "    return {}\n")
    report = grader.grade(str(path), 1, lecture)
    assert not report.ok
    for k, v in before.items():
        np.testing.assert_array_equal(lecture.cache[k], v, err_msg=k)
    # and a correct learner graded afterwards still passes
    assert grader.grade(NINJA, 1, lecture).ok


# -----------------------------------------------------------------------------
# diagnoses: one deliberate mistake each (tests/learners/mistakes.py)

@pytest.mark.parametrize("func, name, status, diagnosis", [
    ("bessel", "bndiff2", "mismatch",
     "off by a factor (n-1)/n = 31/32: Bessel's correction"),
    ("no_mean_logprobs", "logprobs", "mismatch",
     "32 times too large (a factor n): the 1/n of the mean is missing"),
    ("hprebn_no_1_over_n", "hprebn", "mismatch",
     "the term through bnmeani is 32 times too large (a factor n): the 1/n of the mean"),
    ("forgot_counts", "counts", "mismatch",
     "counts is used twice (probs = counts * counts_sum_inv, counts_sum = counts.sum(1)); "
     "the gradient through counts_sum is missing"),
    ("forgot_bndiff", "bndiff", "mismatch",
     "bndiff is used twice (bnraw = bndiff * bnvar_inv, bndiff2 = bndiff**2); "
     "the gradient through bndiff2 is missing"),
    ("forgot_hprebn", "hprebn", "mismatch", "the gradient through bnmeani is missing"),
    ("lost_repeats", "C", "mismatch",
     "repeated characters lost in the scatter: dC[Xb] += demb keeps one row"),
    ("no_sum_bngain", "bngain", "wrong shape (32, 64), expected (1, 64)",
     "not summed over the broadcast: bngain (1, 64) was broadcast to (32, 64), so its "
     "gradient is summed over axis 0 (keepdims=True); summed, it is right"),
    ("wrong_axis_bnvar_inv", "bnvar_inv", "wrong shape (32, 1), expected (1, 64)",
     "summed over the wrong axis: bnvar_inv (1, 64) was broadcast along axis 0, so sum "
     "over axis 0, not axis 1"),
    ("keepdims_bnmeani", "bnmeani", "right values, shape (64,) should be (1, 64)",
     "the lecture's cmp broadcasts and accepts it; bnmeani is (1, 64), so is its gradient "
     "(keepdims=True)"),
    ("transpose_W1", "W1", "wrong shape (64, 30), expected (30, 64)",
     "(64, 30) is the transpose of (30, 64): dW1 = embcat.T @ dhprebn; its transpose is right"),
    ("float32_logprobs", "logprobs", "wrong dtype float32, expected float64",
     "the values are right once cast to float64"),
])
def test_each_known_mistake_is_diagnosed(capsys, func, name, status, diagnosis):
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:{func}")
    assert code == 1
    line, said = row(out, name)
    assert f"| {status}" in line
    assert diagnosis in said, said
    # a shape or dtype problem is not reported as numbers
    if status != "mismatch":
        assert "exact: -     | approximate: -" in line


def test_the_rows_below_a_mistake_follow_from_it(capsys):
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:bessel")
    assert row(out, "bndiff")[1] == ("follows from the wrong dbndiff2 above "
                                     "(this line is right given it)")
    assert row(out, "hprebn")[1].startswith("follows from the wrong dbndiff above")
    # dbnmeani is untouched: bndiff2's term sums to zero over the batch
    assert "approximate: True" in row(out, "bnmeani")[0]
    assert "26/26 attempted, 19 correct" in out


def test_a_mistake_below_another_is_still_named(capsys):
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:two_mistakes")
    assert "the gradient through counts_sum is missing" in row(out, "counts")[1]
    said = row(out, "bndiff")[1]
    assert "the gradient through bndiff2 is missing" in said and "wrong too" in said
    # right: the four rows above counts, and db1 (zero whatever comes into it)
    assert "26/26 attempted, 5 correct" in out


def test_forgotten_logits_branch_passes_with_a_note(capsys):
    # dlogit_maxes is ~0, so the missing branch changes nothing a tolerance can see
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:forgot_logits")
    assert code == 0 and "26/26 correct" in out
    assert "branch through logit_maxes looks forgotten" in row(out, "logits")[1]
    code, out, _ = run(capsys, "--impl", NINJA)
    assert row(out, "logits")[1] == ""


def test_transposes_at_square_sizes(capsys):
    # W1 is (T*E, H) = (30, 30): the transposed answer has the right shape
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:transpose_W1",
                       "--n-hidden", 30, "--batch-size", 8)
    line, said = row(out, "W1")
    assert code == 1 and "| mismatch" in line
    assert said == "equals the transpose of the right answer: dW1 = embcat.T @ dhprebn"
    # W2 is (H, V) = (27, 27): dlogits @ W2 runs, and is wrong
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:dh_no_transpose",
                       "--n-hidden", 27, "--batch-size", 8)
    assert row(out, "h")[1] == "equals dlogits @ W2: dh = dlogits @ W2.T"
    assert row(out, "hpreact")[1].startswith("follows from the wrong dh above")


def test_bessel_at_another_batch_size(capsys):
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:bessel", "--batch-size", 5,
                       "--n-hidden", 4, "--seed", 7)
    assert code == 1 and "reference: complex-step derivatives" in out
    assert "(n-1)/n = 4/5: Bessel's correction" in row(out, "bndiff2")[1]


def test_lost_repeats_against_complex_steps(capsys):
    code, out, _ = run(capsys, "--impl", f"{MISTAKES}:lost_repeats", "--vocab-size", 4,
                       "--batch-size", 6, "--n-hidden", 4)
    assert code == 1
    assert "repeated characters lost in the scatter" in row(out, "C")[1]


def test_not_an_array_and_non_finite(capsys, tmp_path):
    path = tmp_path / "odd.py"
    path.write_text("import numpy as np\n"
                    "def backward(cache):\n"
                    "    return {'logprobs': [0.0], 'probs': cache['probs'] * np.nan,\n"
                    "            'dW1': None, 'loss': 1.0}\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1
    assert row(out, "logprobs")[0].endswith("| not a numpy array but a list")
    assert row(out, "probs")[0].endswith("| non-finite values (nan or inf)")
    assert row(out, "W1")[0].endswith("| not attempted")
    assert "keys like 'dW1' read as 'W1'" in out
    assert "ignored keys, not among the 26 names: 'loss'" in out
    assert "2/26 attempted, 0 correct" in out


# -----------------------------------------------------------------------------
# exceptions in the learner's code

def test_exception_shows_the_learners_traceback_and_row(capsys):
    code, out, err = run(capsys, "--impl", f"{MISTAKES}:dh_no_transpose")
    assert code == 1 and err == ""
    line = next(i for i, text in enumerate(Path(MISTAKES).read_text().splitlines(), 1)
                if 'd["h"] = d["logits"] @ v["W2"]' in text)
    assert f"| raised ValueError at line {line} (traceback below)" in row(out, "h")[0]
    assert "raised ValueError while computing dh:" in out
    assert f'mistakes.py", line {line}, in _backward' in out
    assert 'd["h"] = d["logits"] @ v["W2"]' in out
    assert "grader.py" not in out and "learner.py" not in out and "command.py" not in out
    assert "hint: a matmul gradient needs a transpose" in out
    # the gradients computed before the exception are graded, the rest not reached
    assert "approximate: True" in row(out, "logits")[0]
    assert row(out, "W2")[0].endswith("| not reached")
    assert "9/26 attempted, 8 correct" in out


def test_exception_in_a_filled_template(capsys, tmp_path):
    path = write_template(capsys, tmp_path)
    text = path.read_text().replace(
        "    dlogprobs = None\n",
        "    dlogprobs = np.zeros_like(logprobs)\n    dlogprobs[np.arange(n), Yb] = -1.0 / n\n"
    ).replace("    dprobs = None\n", "    dprobs = dlogprob / probs\n")  # a typo
    path.write_text(text)
    line = text.splitlines().index("    dprobs = dlogprob / probs") + 1
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1
    assert f"raised NameError at line {line}" in row(out, "probs")[0]
    assert "approximate: True" in row(out, "logprobs")[0]
    assert f'mine.py", line {line}, in backward' in out
    assert "NameError: name 'dlogprob' is not defined" in out
    assert "2/26 attempted, 1 correct" in out


def test_exception_inside_numpy_or_a_helper(capsys, tmp_path):
    path = tmp_path / "helper.py"
    path.write_text("import numpy as np\n"
                    "\n"
                    "def total(x):\n"
                    "    return np.sum(x, axis=5)\n"
                    "\n"
                    "def backward(cache):\n"
                    "    dlogprobs = np.zeros_like(cache['logprobs'])\n"
                    "    dbnbias = total(cache['hpreact'])\n"
                    "    return {'logprobs': dlogprobs, 'bnbias': dbnbias}\n")
    code, out, _ = run(capsys, "--impl", path)
    assert code == 1
    # the helper's line assigns no gradient: the row comes from backward's own line
    assert "raised AxisError at line 4" in row(out, "bnbias")[0]
    assert 'helper.py", line 8, in backward' in out and 'helper.py", line 4, in total' in out
    assert "fromnumeric" not in out and "grader.py" not in out and "learner.py" not in out
    assert "| mismatch" in row(out, "logprobs")[0]  # zeros, graded


# -----------------------------------------------------------------------------
# user mistakes: one line on stderr, exit 2

@pytest.mark.parametrize("files, spec, message", [
    ({}, "nope.py", "learner file not found: {d}/nope.py"),
    ({"notes.txt": "hi\n"}, "notes.txt", "not a Python file: {d}/notes.txt"),
    ({"sub/x.py": ""}, "sub", "not a Python file: {d}/sub"),
    ({"syn.py": "def f(:\n"}, "syn.py:f", "{d}/syn.py is not valid Python: line 1:"),
    ({"boom.py": "x = 1\n1 / 0\n"}, "boom.py", "{d}/boom.py raised ZeroDivisionError at line 2 "
     "while loading: division by zero"),
    ({"m.py": "def f(cache):\n    return {}\n"}, "m.py:g",
     "{d}/m.py has no function 'g' (it defines: f)"),
    ({"m.py": "x = 3\n"}, "m.py:x", "{d}/m.py:x is not a function: it is of type int"),
    ({"m.py": "def f(cache):\n    return [1]\n"}, "m.py:f",
     "{d}/m.py:f returned a list, not a dict of gradients by name"),
    ({"m.py": "def f():\n    return {}\n"}, "m.py:f",
     "{d}/m.py:f could not be called as f(cache): TypeError"),
])
def test_bad_file_or_func_is_one_line_exit_2(capsys, tmp_path, files, spec, message):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code, out, err = run(capsys, "--impl", f"{tmp_path}/{spec}")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("npbackprop check: error: ")
    assert message.format(d=tmp_path) in err
    assert "Traceback" not in err


def test_usage_mistakes_exit_2(capsys):
    assert run(capsys, "--exercise", 4)[0] == 2
    code, _, err = run(capsys, "--batch-size", 1)
    assert code == 2 and err == ("npbackprop check: error: --batch-size must be at least 2: "
                                 "the batch variance divides by n-1\n")
    code, _, err = run(capsys, "--template", "--impl", NINJA)
    assert code == 2 and "--template takes no --impl" in err


# -----------------------------------------------------------------------------
# exercises 2 and 3

@pytest.mark.parametrize("exercise, func, name, status, diagnosis", [
    (2, "ce_no_mean", "logits", "mismatch",
     "32 times too large (a factor n): the 1/n of the mean is missing"),
    (2, "ce_no_target", "logits", "mismatch",
     "the -1 at the target is missing: dlogits = (softmax(logits) - onehot(Yb)) / n"),
    (2, "ce_float32", "logits", "wrong dtype float32, expected float64",
     "the values are right once cast to float64"),
    (3, "bn_no_bessel", "hprebn", "mismatch",
     "the term through bnvar is off by a factor (n-1)/n = 31/32: Bessel's correction"),
    (3, "bn_no_variance", "hprebn", "mismatch",
     "the path through the variance (bnvar) is missing"),
    (3, "bn_no_mean", "hprebn", "mismatch", "the path through the mean (bnmeani) is missing"),
])
def test_fused_exercises_wrong(capsys, exercise, func, name, status, diagnosis):
    code, out, _ = run(capsys, "--exercise", exercise, "--impl", f"{MISTAKES}:{func}")
    assert code == 1
    line, said = row(out, name)
    assert f"| {status}" in line and diagnosis in said
    assert "1/1 attempted, 0 correct" in out


def test_fused_batchnorm_at_another_size(capsys):
    code, out, _ = run(capsys, "--exercise", 3, "--impl", f"{MISTAKES}:bn_no_bessel",
                       "--batch-size", 6, "--n-hidden", 5)
    assert code == 1 and "(n-1)/n = 5/6: Bessel's correction" in row(out, "hprebn")[1]
    code, out, _ = run(capsys, "--exercise", 3, "--impl", NINJA, "--batch-size", 6,
                       "--n-hidden", 5)
    assert code == 0, out


# -----------------------------------------------------------------------------
# the pieces

def test_branches_sum_to_the_chunked_backward():
    for setup in (setups.make_setup(), setups.make_setup(seed=3, batch_size=5, n_hidden=4)):
        v = setup.cache
        g = chunked.backward(v)
        for name in GRAD_NAMES:
            total = sum(t for _, t, _ in diagnose.ex1_terms(name, v, g))
            np.testing.assert_allclose(total, g[name], rtol=1e-12, atol=1e-18, err_msg=name)
        ex2 = sum(t for _, t, _ in diagnose.ex2_terms(v))
        np.testing.assert_allclose(ex2, g["logits"], rtol=1e-10, atol=1e-18)
        ex3 = sum(t for _, t, _ in diagnose.ex3_terms(v, g["hpreact"]))
        np.testing.assert_allclose(ex3, g["hprebn"], rtol=1e-9, atol=1e-18)


def test_lecture_sizes_match_the_fixture(lecture):
    assert lecture.sizes == setups.LECTURE_SIZES
    assert lecture.tolerance is setups.ALLCLOSE


def test_a_mistake_indistinguishable_from_the_answer_is_not_diagnosed():
    # x is just off the answer; an alternative within tolerance of both x and
    # the answer explains nothing: no diagnosis rather than a false one
    expected = np.array([1.0, 2.0])
    x = expected * (1 + 1.5e-5)
    assert not np.allclose(x, expected, atol=1e-8, rtol=1e-5)
    between = expected * (1 + 0.75e-5)
    assert diagnose.known_mistake(x, expected, [], 32, setups.ALLCLOSE,
                                [(between, "a mistake")]) == ""
    assert diagnose.known_mistake(x, expected, [], 32, setups.ALLCLOSE,
                                [(x.copy(), "a mistake")]) == "a mistake"


def test_add_parser_plugs_into_another_parser(capsys):
    parser = argparse.ArgumentParser(prog="npbackprop")
    check_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", "--template"])
    assert args.func(args) == 0
    assert "def backward(cache):" in capsys.readouterr().out


def test_module_runs_as_a_script():
    done = subprocess.run([sys.executable, "-m", "npbackprop.check.command", "--template"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith('"""Makemore part 4')


@pytest.mark.parametrize("extra", [[], ["--exercise", 5]])
def test_a_negative_seed_is_a_usage_mistake_not_a_traceback(capsys, extra):
    # numpy's default_rng(-1) raised a ValueError traceback from deep in the setup
    code, out, err = run(capsys, *extra, "--seed", -1)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--seed" in err and "must not be negative, got -1" in err
    code, out, err = run(capsys, *extra, "--seed", "x")
    assert code == 2 and "not an integer: 'x'" in err
