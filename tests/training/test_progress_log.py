"""The run log: plain lines when the output is a file or a pipe, Keras'
progress bar on a terminal."""

import re
import sys

from keras_adapters.training.classifier_run import ClassifierRun
from tests.training.test_run_failures import data_dir  # noqa: F401
from tests.training.test_run_failures import make_config
from tests.training.test_run_failures import tiny_preset  # noqa: F401

LINE = re.compile(
    r"^step (\d+)/12 \(epoch ([123])/3\): loss \d+\.\d{4}, learning rate "
    r"[0-9.e+-]+, [\d,]+\.\d examples/s, \d:\d\d:\d\d$"
)


def run_log(tmp_path, preset, data, capsys, **overrides):
    capsys.readouterr()
    ClassifierRun(
        make_config(
            tmp_path / "out",
            preset,
            data,
            num_train_epochs=3,  # 12 steps of 4 per epoch.
            verbose=1,
            do_export=False,
            **overrides,
        )
    ).run()
    return capsys.readouterr().out


def test_a_file_or_pipe_gets_plain_lines_every_n_steps(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    capsys,
):
    printed = run_log(
        tmp_path, tiny_preset, data_dir, capsys, log_every_steps=5
    )
    assert "\r" not in printed and "\x1b" not in printed
    steps = [
        int(match.group(1))
        for match in map(LINE.match, printed.splitlines())
        if match
    ]
    assert steps == [5, 10, 12]  # Every 5 steps, and the last one.
    epochs = [line for line in printed.splitlines() if line.startswith("epoch")]
    assert [line.split(" done")[0] for line in epochs] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    assert all(" over 4 steps, " in line for line in epochs), epochs


def test_the_default_is_about_twenty_lines_per_epoch(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    capsys,
):
    printed = run_log(tmp_path, tiny_preset, data_dir, capsys)
    # 4 steps per epoch: a line every step (at most 20 per epoch).
    steps = [m.group(1) for m in map(LINE.match, printed.splitlines()) if m]
    assert steps == [str(step) for step in range(1, 13)]


def test_a_terminal_gets_the_progress_bar(
    tmp_path,
    tiny_preset,  # noqa: F811
    data_dir,  # noqa: F811
    capsys,
    monkeypatch,
):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    printed = run_log(tmp_path, tiny_preset, data_dir, capsys)
    assert not any(map(LINE.match, printed.splitlines()))
    assert "Epoch 1/3" in printed and "step" in printed
