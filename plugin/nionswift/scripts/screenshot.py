"""Screenshots of the plug-in in the real Nion Swift (PySide6 front end): simulated
frames, "atomvae ▸ Find Atoms" from the menu on a frame, "rVAE Order Parameters" on
a movie, each result shown in a 2 × 2 workspace.

    HOME=$(mktemp -d) xvfb-run -a -s "-screen 0 1600x1000x24" \
        python plugin/nionswift/scripts/screenshot.py docs/nionswift

needs PySide6 (pyside6-essentials) next to nionswift; writes find-atoms.png and
order-parameters.png into the folder given."""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.swift import DocumentController, Facade
from nionui_app.nionswift import main as swift_main
from PySide6 import QtCore, QtWidgets

OUT = sys.argv[1] if len(sys.argv) > 1 else "."


def simulated(frames: int, size: int, pixel_angstrom: float) -> np.ndarray:
    import atomvae

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "movie.h5")
        return atomvae.simulate_movie(path, frames=frames, height=size, width=size, pixel_size=pixel_angstrom).frames


def xdata(data: np.ndarray, pixel_angstrom: float) -> DataAndMetadata.DataAndMetadata:
    spatial = [Calibration.Calibration(scale=pixel_angstrom / 10, units="nm") for _ in range(2)]
    sequence = data.ndim == 3
    return DataAndMetadata.new_data_and_metadata(
        data,
        intensity_calibration=Calibration.Calibration(units="counts"),
        dimensional_calibrations=([Calibration.Calibration(scale=1.0, units="s")] if sequence else []) + spatial,
        data_descriptor=DataAndMetadata.DataDescriptor(sequence, 0, 2),
    )


class Driver:
    """Steps run from Qt timers once Nion Swift has started; each waits for the last."""

    def __init__(self, app):
        self.app = app
        self.started = time.perf_counter()

    def later(self, seconds: float, step) -> None:
        QtCore.QTimer.singleShot(int(seconds * 1000), step)

    def wait_for(self, computation, then) -> None:
        model = computation._computation
        if model.is_running or model.needs_update or not model.results:
            if time.perf_counter() - self.started > 1800:
                print("timed out", model.error_text)
                os._exit(1)
            self.later(0.5, lambda: self.wait_for(computation, then))
        else:
            print(f"{model.label}: {model.last_computed_status}, error {model.error_text!r}", flush=True)
            self.later(1.5, then)

    def grab(self, name: str) -> None:
        path = os.path.join(OUT, name)
        QtWidgets.QApplication.instance().primaryScreen().grabWindow(0).save(path)
        print("saved", path, flush=True)

    def show(self, items) -> None:
        panels = self.controller.workspace_controller.display_panels
        for panel, data_item in zip(panels, items, strict=False):
            panel.set_display_panel_display_item(self.model.get_display_item_for_data_item(data_item))

    def start(self) -> None:
        # the newest document window (a fresh profile's project replaced the first one)
        self.controller = [w for w in self.app.windows if isinstance(w, DocumentController.DocumentController)][-1]
        self.model = self.controller.document_model
        self.api = Facade.get_api("~1.0", "~1.0")
        for widget in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(widget, QtWidgets.QMainWindow):
                widget.setGeometry(0, 0, 1600, 1000)
        self.controller.workspace_controller.display_panels[0].request_focus()
        self.controller.perform_action("workspace.split_2x2")
        self.later(1.0, self.add_data)

    def add_data(self) -> None:
        library = self.api.library
        frame = simulated(1, 256, 0.1)[0]  # 2.6 nm: a few hundred atoms, each marked
        movie = simulated(4, 192, 0.2)  # 3.8 nm: ~550 atoms a frame for the rVAE
        self.frame = library.create_data_item_from_data_and_metadata(
            xdata(frame, 0.1), "Simulated frame (Si-doped graphene)"
        )
        self.movie = library.create_data_item_from_data_and_metadata(xdata(movie, 0.2), "Simulated movie")
        self.show([self.frame._data_item])
        display_item = self.model.get_display_item_for_data_item(self.frame._data_item)
        self.controller.select_display_items_in_data_panel([display_item])
        self.controller.data_panel_focused()
        menu = self.controller._atomvae_menu
        action = next(item.action for item in menu.items if item.action and item.action.title == "Find Atoms")
        action.trigger() if hasattr(action, "trigger") else action.callback()
        self.later(1.0, self.after_menu)

    def after_menu(self) -> None:
        computations = [c for c in self.model.computations if c.processing_id == "atomvae.find-atoms"]
        if not computations:
            print("the menu made no computation")
            os._exit(1)
        self.wait_for(Facade.Computation(computations[0]), self.show_atoms)

    def show_atoms(self) -> None:
        outputs = {r.name: r.output_items[0] for r in self.model.computations[0].results if r.output_items}
        self.show([self.frame._data_item, outputs["probability_Si"], outputs["probability_C"], self.movie._data_item])
        panels = self.controller.workspace_controller.display_panels
        panels[1].request_focus()
        self.later(2.0, self.atoms_shot)

    def atoms_shot(self) -> None:
        self.grab("find-atoms.png")
        from nionswift_plugin.atomvae import menu, order_parameters

        self.order = menu.create_computation(self.api.library, order_parameters.PROCESSING_ID, self.movie, epochs=20)
        self.later(1.0, lambda: self.wait_for(self.order, self.show_order))

    def show_order(self) -> None:
        outputs = {r.name: r.output_items[0] for r in self.order._computation.results if r.output_items}
        self.show([outputs["angle_map"], outputs["z1_map"], outputs["manifold"], outputs["z1_histogram"]])
        self.controller.workspace_controller.display_panels[0].request_focus()
        self.later(2.0, self.order_shot)

    def order_shot(self) -> None:
        self.grab("order-parameters.png")
        os._exit(0)


def run() -> None:
    app = swift_main.main([], {"qt": None})
    driver = Driver(app)
    original_start = app.start

    def start(*args, **kwargs):
        started = original_start(*args, **kwargs)
        if not any(isinstance(w, DocumentController.DocumentController) for w in app.windows):
            # a fresh profile asks for a project: make one
            app.create_project_reference(pathlib.Path(tempfile.mkdtemp()), "atomvae demo")
            for widget in QtWidgets.QApplication.topLevelWidgets():
                if widget.isVisible() and "Project" in widget.windowTitle():
                    widget.close()
        driver.later(2.0, driver.start)
        return started

    app.start = start
    app.run()


if __name__ == "__main__":
    run()
