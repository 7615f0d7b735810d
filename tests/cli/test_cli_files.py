"""The CLI writes text (summaries, exported code, training histories) through the one atomic writer."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from cnnexplorer import cli
from cnnexplorer.model.export_summary import summary_text
from cnnexplorer.model.presets import load_preset


def test_a_symlink_at_the_old_temporary_name_is_not_written_through(tmp_path, capsys):
    """The temporary file was ``.<name>.tmp``, opened with a plain ``open``: a link planted there by someone else
    had its target overwritten, and the rename then put the link in place of the output."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "summary.md"
    (tmp_path / ".summary.md.tmp").symlink_to(victim)
    assert cli.main(["summary", "lenet5", "-o", str(out)]) == 0
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not out.is_symlink()
    assert out.read_text(encoding="utf-8") == summary_text(load_preset("lenet5"), "markdown")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [".summary.md.tmp"]  # only the link


def test_an_output_that_is_a_symlink_is_replaced_behind_the_link(tmp_path, capsys):
    """Like every other writer (architecture saves, weights, diagrams): the link stays, its target is replaced."""
    target = tmp_path / "real.py"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    assert cli.main(["export", "lenet5", "--to", "keras", "-o", str(link)]) == 0
    assert link.is_symlink() and "keras" in target.read_text(encoding="utf-8")


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_a_failed_write_leaves_the_old_file_and_says_so_in_one_line(tmp_path):
    """Files may grow to 4 KiB in the child process; the ResNet-50 code does not fit (EFBIG)."""
    out = tmp_path / "model.py"
    out.write_text("the old code", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGXFSZ, "
                             "signal.SIG_IGN); from cnnexplorer.cli import main; sys.exit(main(sys.argv[1:]))",
                             "export", "resnet50", "--to", "pytorch", "-o", str(out)],
                            capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and f"{out}: cannot write (File too large)" in result.stderr
    assert out.read_text(encoding="utf-8") == "the old code"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]      # no temporary file left


def test_text_that_cannot_be_encoded_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "h.json"
    out.write_text("old", encoding="utf-8")
    with pytest.raises(cli.UsageError) as refused:
        cli._write_text(str(out), "bad \udc80 character")
    assert str(refused.value) == f"{out}: cannot write character '\\udc80' as UTF-8"
    assert out.read_text(encoding="utf-8") == "old"
