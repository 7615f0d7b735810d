"""The one place that finds bundled resources, in a wheel (``cnnexplorer/resources``) or a checkout
(``resources/`` next to the package)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resources_dir() -> Path:
    for candidate in (_PACKAGE / "resources", _PACKAGE.parent / "resources"):
        if (candidate / "presets").is_dir():
            return candidate
    raise FileNotFoundError(f"CNN Explorer's resources folder is missing (looked in {_PACKAGE / 'resources'} "
                            f"and {_PACKAGE.parent / 'resources'}); reinstall the package")


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
