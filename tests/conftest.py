import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
KERAS_REFERENCE = DATA / "keras"  # verbatim copies of ../shared/reference (Keras 3.15.1 output)
