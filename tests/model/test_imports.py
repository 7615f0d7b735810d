"""The core stays free of NumPy and Qt; the engine stays free of Qt."""

import subprocess
import sys


def loaded_after(statement):
    code = (f"import sys; {statement}; "
            "print(' '.join(m for m in ('numpy', 'PySide6', 'pyqtgraph', 'PIL') if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_core_imports_neither_numpy_nor_qt():
    assert loaded_after("import cnnexplorer.model; cnnexplorer.model.summarize(cnnexplorer.model.load('vgg16'))") == []
    assert loaded_after("import cnnexplorer") == []


def test_engine_imports_no_qt():
    assert "PySide6" not in loaded_after("import cnnexplorer.engine")
    assert "pyqtgraph" not in loaded_after("import cnnexplorer.engine")
