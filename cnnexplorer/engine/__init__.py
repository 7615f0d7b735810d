"""The NumPy engine: kernels, weights, image input, the runner, and training (fit, predict).  Imports no Qt."""

from .errors import ArchitectureInvalidError, EngineError, EngineInputError, MemoryBudgetError, RunCancelled
from .images import IMAGE_SUFFIXES, ImageInputError, PreparedInput, prepare_input, sample_images
from .runner import MemoryEstimate, Runner, RunResult, estimate_memory, forward, prepare, run, save_activations
from .pretrained import PretrainedWeights, default_weights
from .training import FitResult, TrainEvent, fit, predict
from .weights import check_weights, classic_kernel, init_weights, load_weights, save_weights

__all__ = ["IMAGE_SUFFIXES", "ImageInputError", "PreparedInput", "prepare_input", "sample_images", "ArchitectureInvalidError", "EngineError", "EngineInputError", "MemoryBudgetError", "RunCancelled",
           "MemoryEstimate", "Runner", "RunResult", "estimate_memory", "forward", "prepare", "run",
           "save_activations", "check_weights", "classic_kernel", "init_weights", "load_weights", "save_weights",
           "fit", "predict", "FitResult", "TrainEvent", "default_weights", "PretrainedWeights"]
