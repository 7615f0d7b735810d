"""Training in a child process: messages in order, the same training as in-process, pause holds the child, stop
ends it early, a bad dataset and a killed child each end with one ``done`` that says why."""

import os
import queue
import signal

import numpy as np
import pytest

from cnnexplorer.engine.datasets import load_dataset, split
from cnnexplorer.engine.training_job import TrainingJob
from cnnexplorer.engine.training_process import TrainingProcess
from cnnexplorer.engine.weights import init_weights
from cnnexplorer.model import Architecture
from cnnexplorer.model.files import dumps
from cnnexplorer.model.layers import Conv2D, Dense, Flatten

WAIT = 120  # seconds a message may take on a loaded machine (the child imports NumPy first)


def tiny():
    return Architecture((8, 8, 1), [Conv2D(filters=4, kernel_size=3, activation="relu", name="conv"),
                                    Flatten(name="flat"), Dense(units=10, activation="softmax", name="out")], "tiny")


def start(arch, dataset="digits", **settings):
    messages = queue.Queue()
    job = TrainingProcess(dumps(arch), dataset, arch.input_shape, init_weights(arch, seed=1),
                          on_message=lambda *m: messages.put(m), seed=0, **settings)
    return job, messages


def until_done(messages):
    seen = []
    while not seen or seen[-1][0] != "done":
        seen.append(messages.get(timeout=WAIT))
    return seen


def test_messages_arrive_in_order_and_train_as_the_job_does_in_process():
    arch = tiny()
    job, messages = start(arch, epochs=2, batch_size=64)
    seen = until_done(messages)
    kinds = [m[0] for m in seen]
    assert kinds[0] == "data" and kinds[-1] == "done" and kinds.count("epoch") == 2 and "batch" in kinds
    val, names = seen[0][1], seen[0][2]
    assert names == [str(i) for i in range(10)] and len(val) == 359
    points = [p for m in seen if m[0] == "batch" for p in m[1]]
    train_size = 1797 - 359
    assert [p[0] for p in points] == list(range(1, 2 * -(-train_size // 64) + 1))   # every batch, once, in order
    weights, history, error, stopped = seen[-1][1:]
    assert error == "" and not stopped and len(history["loss"]) == 2
    # the same training in this process gives the same weights
    data = load_dataset("digits", arch.input_shape)
    train, validation = split(data, 0.2, seed=0)
    local = TrainingJob(arch, train, validation, init_weights(arch, seed=1), epochs=2, batch_size=64, seed=0)
    expected = local.run()
    assert set(weights) == set(expected)
    for key in expected:
        np.testing.assert_allclose(weights[key], expected[key], rtol=1e-5, atol=1e-6)
    assert history == local.history
    job.join(10)


def test_pause_holds_the_child_and_stop_ends_it_early():
    job, messages = start(tiny(), epochs=1000, batch_size=8)
    assert messages.get(timeout=WAIT)[0] == "data"
    assert messages.get(timeout=WAIT)[0] == "batch"
    job.pause()
    assert job.held.wait(WAIT) and job.paused
    while True:                      # batches sent before the pause was seen; then nothing until resumed
        try:
            kind = messages.get(timeout=1)[0]
        except queue.Empty:
            break
        assert kind == "batch"
    job.resume()
    assert messages.get(timeout=WAIT)[0] == "batch"
    job.stop()
    seen = until_done(messages)
    weights, history, error, stopped = seen[-1][1:]
    assert stopped and job.stopped and error == "" and weights and len(history["loss"]) < 1000
    job.join(10)


def test_a_bad_dataset_ends_with_one_line(tmp_path):
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip")
    job, messages = start(tiny(), str(bad))
    seen = until_done(messages)
    assert [m[0] for m in seen] == ["done"]
    weights, _, error, _ = seen[0][1:]
    assert weights is None and error.startswith("junk.npz:") and "\n" not in error
    job.join(10)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals to kill the child")
def test_a_killed_child_ends_with_done_saying_so():
    job, messages = start(tiny(), epochs=1000, batch_size=8)
    assert messages.get(timeout=WAIT)[0] == "data"
    os.kill(job._process.pid, signal.SIGKILL)
    seen = until_done(messages)
    weights, _, error, stopped = seen[-1][1:]
    assert weights is None and stopped and "killed by signal 9" in error
    job.join(10)


def test_a_script_without_a_main_guard_is_not_run_again_by_the_child(tmp_path):
    """The child is a fresh interpreter: a user's script that starts training at top level runs once."""
    import subprocess
    import sys

    script = tmp_path / "train_here.py"
    script.write_text(
        "import queue\n"
        "from cnnexplorer.engine.training_process import TrainingProcess\n"
        "from cnnexplorer.engine.weights import init_weights\n"
        "from cnnexplorer.model.files import dumps\n"
        "from cnnexplorer.model import Architecture\n"
        "from cnnexplorer.model.layers import Conv2D, Dense, Flatten\n"
        "print('script ran', flush=True)\n"
        "arch = Architecture((8, 8, 1), [Conv2D(filters=2, kernel_size=3), Flatten(), Dense(units=10)])\n"
        "q = queue.Queue()\n"
        "TrainingProcess(dumps(arch), 'digits', arch.input_shape, init_weights(arch), epochs=1,\n"
        "                on_message=lambda *m: q.put(m))\n"
        "while (m := q.get(timeout=120))[0] != 'done':\n"
        "    pass\n"
        "print('error:', repr(m[3]))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script ran") == 1 and "error: ''" in done.stdout


def test_stop_while_the_dataset_is_read_ends_before_training():
    job, messages = start(tiny(), epochs=1000, batch_size=8)
    job.stop()
    seen = until_done(messages)
    weights, history, error, stopped = seen[-1][1:]
    assert error == "" and stopped and history.get("loss") == []
    job.join(10)
