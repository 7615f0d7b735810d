"""Engine exceptions."""

from __future__ import annotations

from ..model.errors import CnnExplorerError


class EngineError(CnnExplorerError):
    """Base class of engine errors."""


class EngineInputError(EngineError, ValueError):
    """A bad input: an image, array or weights file (the message names the file and what is wrong)."""


class ArchitectureInvalidError(EngineError, ValueError):
    """The architecture has a layer that cannot be computed, so it cannot run."""


class MemoryBudgetSettingError(EngineInputError):
    """``CNNEXPLORER_MEMORY_BUDGET`` holds something that is not a size (the message names the variable)."""


class MemoryBudgetError(EngineError, MemoryError):
    """The run would need more memory than the budget allows; ``needed`` and ``budget`` are in bytes."""

    def __init__(self, needed: int, budget: int, detail: str = ""):
        self.needed = needed
        self.budget = budget
        from ..model.summary import format_bytes

        super().__init__(f"this run needs about {format_bytes(needed)} of memory{detail}, more than the "
                         f"{format_bytes(budget)} budget; use a smaller input or model, or raise the budget")


class RunCancelled(EngineError):
    """A run was cancelled (a newer edit superseded it, or the user pressed Cancel)."""
