"""Puts issue 13's parts into the main window: ``window.training`` (the automation surface), the Train, Draw and
"Where it looked" tabs, and the top-5 prediction strip under the feature maps."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from ..engine.drawing import style_for_dataset
from .drawing_pad import DrawingPad
from .gradcam_view import GradCamView
from .predictions import PredictionPanel
from .train_panel import TrainingController, TrainPanel, scrolled
from .visibility import RefreshWhenShown

#: the tab area is given at least this share of the right-hand column while one of these tabs is shown
TAB_SHARE = 0.55


def install_training(window) -> None:
    controller = window.training = TrainingController(window)
    window.train_panel = TrainPanel(controller)

    def class_names():
        return controller.class_names or window.train_panel.preview_class_names

    window.predictions = PredictionPanel(window.session, class_names)
    window.right_split.insertWidget(1, window.predictions)
    window.right_split.setCollapsible(1, False)
    window.drawing_pad = DrawingPad(window.open_image, lambda: window.architecture.input_shape,
                                    lambda: style_for_dataset(controller.dataset_name or window.train_panel.dataset),
                                    lambda: window.session.running)
    window.session.runEnded.connect(window.drawing_pad.run_ended)
    window.gradcam_view = GradCamView(window.session, class_names)
    window.train_panel.previewed.connect(window.predictions.refresh)     # the chosen dataset names the classes
    window.train_panel.previewed.connect(window.gradcam_view.names_changed)
    big_tabs = []
    big_tabs.append(window.tabs.addTab(window.train_panel, "Train"))     # its settings column scrolls itself
    big_tabs.append(window.tabs.addTab(scrolled(window.drawing_pad), "Draw"))
    big_tabs.append(window.tabs.addTab(window.gradcam_view, "Where it looked"))   # the picture fits the tab

    def tab_changed(index: int):
        window.gradcam_view.set_active(index == big_tabs[2])
        if index in big_tabs:
            sizes = window.right_split.sizes()
            total = sum(sizes)
            tab_index = window.right_split.indexOf(window.tabs)
            if total and sizes[tab_index] < TAB_SHARE * total:
                rest = total - int(TAB_SHARE * total) - sum(s for i, s in enumerate(sizes) if i not in (0, tab_index))
                sizes[0], sizes[tab_index] = max(120, rest), int(TAB_SHARE * total)
                window.right_split.setSizes(sizes)
    window.tabs.currentChanged.connect(tab_changed)

    def finished(history: dict):
        if controller.last_error:
            window.statusBar().showMessage(f"Training: {controller.last_error}", 10_000)
        elif history.get("loss"):
            figures = ", ".join(f"{k} {v[-1]:.3f}" for k, v in history.items())
            window.statusBar().showMessage(f"Trained {len(history['loss'])} epoch(s): {figures}", 10_000)
        window.train_panel.refresh_filters()
        window.drawing_pad.set_style(style_for_dataset(controller.dataset_name))
    controller.trainingFinished.connect(finished)
    controller.failed.connect(lambda message: window.statusBar().showMessage(f"Training: {message}", 10_000))
    # the filters view follows the model's weights whenever training is not redrawing it
    filters = RefreshWhenShown(window.train_panel, window.train_panel.refresh_filters)
    refresh = QTimer(window, singleShot=True, interval=0)
    refresh.timeout.connect(lambda: controller.running or filters.request())
    window.session.weightsChanged.connect(refresh.start)
    window.architecture.events.connect(lambda event: refresh.start())
