"""The window's training job: epochs with one optimiser, validation report, stop and pause from hooks."""

import threading

import numpy as np

from cnnexplorer import load
from cnnexplorer.engine.datasets import load_dataset, split
from cnnexplorer.engine.training_job import TrainingJob, first_conv_kernel, validation_report


def digits_parts(limit=300):
    arch = load("sample-cnn")
    data = load_dataset("digits", arch.input_shape, limit=limit)
    train, val = split(data, 0.2, seed=0)
    return arch, train, val


def test_job_trains_validates_and_reports_every_epoch():
    arch, train, val = digits_parts()
    epochs, points = [], []
    job = TrainingJob(arch, train, val, epochs=2, batch_size=32, on_batch=lambda p, prog: points.append((p, prog)),
                      on_epoch=lambda e, logs, report, w: epochs.append((e, logs, report, w)))
    weights = job.run()
    assert [e for e, *_ in epochs] == [0, 1]
    assert len(points) == 2 * -(-len(train) // 32)
    assert [p.step for p, _ in points] == list(range(1, len(points) + 1))
    assert points[-1][1]["fraction"] == 1.0
    assert job.history["val_loss"][1] < job.history["val_loss"][0]
    report = epochs[-1][2]
    assert report.confusion.sum() == len(val)
    assert np.trace(report.confusion) / len(val) == report.accuracy
    assert not job.stopped
    assert first_conv_kernel(arch, weights) is weights["conv2d/kernel"]


def test_stop_from_a_batch_hook_ends_after_that_batch():
    arch, train, val = digits_parts()
    seen = []

    def on_batch(point, progress):
        seen.append(point.step)
        if point.step == 3:
            job.stop()
    job = TrainingJob(arch, train, val, epochs=3, on_batch=on_batch)
    job.run()
    assert seen == [1, 2, 3] and job.stopped and job.history["loss"] == []


def test_pause_holds_the_training_thread_until_resume():
    arch, train, val = digits_parts(100)
    at_batch = threading.Event()
    steps = []

    def on_batch(point, progress):
        steps.append(point.step)
        if point.step == 1:
            job.pause()
            at_batch.set()
    job = TrainingJob(arch, train, None, epochs=1, batch_size=16, on_batch=on_batch)
    thread = threading.Thread(target=job.run)
    thread.start()
    assert at_batch.wait(30)
    thread.join(0.3)          # held: still alive, no second batch
    assert thread.is_alive() and steps == [1] and job.paused
    job.resume()
    thread.join(60)
    assert not thread.is_alive() and len(steps) == -(-len(train) // 16)


def test_validation_report_confusion_and_worst_images():
    arch, train, val = digits_parts(200)
    from cnnexplorer.engine import init_weights
    weights = init_weights(arch, 0)
    report = validation_report(arch, weights, val.x, val.y, worst=5)
    assert report.confusion.shape == (10, 10) and report.confusion.sum() == len(val)
    assert list(report.worst) == list(np.argsort(report.true_probability, kind="stable")[:5])
    assert np.bincount(report.predicted, minlength=10).tolist() == report.confusion.sum(axis=0).tolist()
