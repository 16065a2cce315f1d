"""What both dock widgets share: options above Run / Cancel buttons, a progress
bar and a status line; the job in a napari thread_worker (its yields move the
progress bar, Cancel makes atomvae's progress callback return False); results put
into the viewer on the main thread; mistakes shown as notifications."""

from __future__ import annotations

import threading

from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QSizePolicy

from . import _jobs


def put_layers(viewer, tuples) -> list:
    """Adds layer data to a viewer (or ViewerModel), replacing layers of the same name in place."""
    from napari.layers import Layer

    added = []
    for data, kwargs, kind in tuples:
        layer = Layer.create(data, kwargs, kind)
        if kwargs["name"] in viewer.layers:
            index = viewer.layers.index(kwargs["name"])
            viewer.layers.pop(index)
            viewer.layers.insert(index, layer)
        else:
            viewer.layers.append(layer)
        added.append(layer)
    return added


def layers_of(viewer, kind):
    """Choices for a ComboBox: the viewer's layers of a type (e.g. ``napari.layers.Image``)."""
    return lambda _widget: [layer for layer in viewer.layers if isinstance(layer, kind)]


def describe(exc: BaseException) -> str:
    from atomvae import AtomvaeError

    if isinstance(exc, (AtomvaeError, _jobs.UserError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobWidget(Container):
    """Options, Run / Cancel buttons and a progress bar; one job at a time."""

    def __init__(self, viewer, options: list, run_text: str):
        self._viewer = viewer
        self._run = PushButton(text=run_text)
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._bar = ProgressBar(value=0, min=0, max=100, label="progress")
        self._status = Label(value="")
        # The whole column's width: magicgui's Label keeps its first text's width, and a
        # napari dock does not lay it out again, so later, longer messages were cut.
        self._status.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        buttons = Container(widgets=[self._run, self._cancel], layout="horizontal", labels=False)
        super().__init__(widgets=[*options, buttons, self._bar, self._status])
        self._run.changed.connect(self.run)
        self._cancel.changed.connect(self.cancel)
        self._stop: threading.Event | None = None
        self.worker = None
        self.last_error: str | None = None
        viewer.layers.events.inserted.connect(self._refresh_choices)
        viewer.layers.events.removed.connect(self._refresh_choices)

    def _refresh_choices(self, *_):
        for widget in self:
            if isinstance(widget, ComboBox):
                widget.reset_choices()

    def fail(self, message: str) -> None:
        self.last_error = message
        show_error(message)
        self._status.value = message[:80]

    def _start(self, work, kwargs: dict, done, description: str):
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._stop = stop = threading.Event()
        self.last_error = None
        self.worker = worker = create_worker(work, **kwargs, cancel=stop, _start_thread=False, _ignore_errors=True)
        bar = progress(total=100, desc=description)
        ended = threading.Event()  # set on the main thread once the result or error is in

        def report(update):
            if ended.is_set() or stop.is_set():
                return  # a late report of a finished or cancelling job
            fraction, phase = update
            value = int(round(100 * fraction))
            if value > bar.n:
                bar.update(value - bar.n)
            bar.set_description(f"{description}: {phase}")
            self._bar.value = value
            self._status.value = phase

        def end(handler):
            def handle(value):
                ended.set()
                handler(value)

            return handle

        def finished():
            bar.close()
            self._run.enabled, self._cancel.enabled = True, False

        worker.yielded.connect(report)
        worker.returned.connect(end(done))
        worker.errored.connect(end(self._errored))
        worker.aborted.connect(stop.set)
        worker.finished.connect(finished)
        self._run.enabled, self._cancel.enabled = False, True
        self._bar.value = 0
        worker.start()
        return worker

    def _errored(self, exc: BaseException) -> None:
        from atomvae import Cancelled

        if isinstance(exc, Cancelled):
            self._status.value = "cancelled: nothing added"
            show_info("atomvae: cancelled, nothing added")
        else:
            self.fail(describe(exc))

    def cancel(self, *_):
        if self._stop is not None:
            self._stop.set()
            self._status.value = "cancelling…"
