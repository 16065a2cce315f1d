"""Fixtures: a simulated movie (atomvae's simulator) and a Nion Swift document
without a display (Nion Swift's own TestContext pattern)."""

from __future__ import annotations

import contextlib
import types

import numpy as np
import pytest
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade
from nion.swift.model import DataItem
from nion.swift.test import TestContext

Facade.initialize()

PIXEL_NM = 0.02  # 0.2 Å/px


@pytest.fixture(scope="session")
def movie(tmp_path_factory) -> np.ndarray:
    """Three simulated 160 × 160 frames of Si-doped graphene at 0.2 Å/px."""
    import atomvae

    atomvae.set_threads(1)  # steadier on a small shared machine
    path = tmp_path_factory.mktemp("movie") / "movie.h5"
    return atomvae.simulate_movie(path, frames=3, height=160, width=160, pixel_size=0.2, seed=1).frames


@contextlib.contextmanager
def swift_document():
    """A document controller with an application, its document model and the API."""
    setup = TestContext.TestSetup(set_global=True)
    with TestContext.create_memory_context() as context:
        document_controller = context.create_document_controller_with_application()
        yield types.SimpleNamespace(
            document_controller=document_controller,
            document_model=document_controller.document_model,
            api=Facade.get_api("~1.0", "~1.0"),
        )
    del setup


@pytest.fixture
def swift():
    with swift_document() as document:
        yield document


def add_data_item(swift, data, *, scale=PIXEL_NM, units="nm", sequence=False, title="frames") -> Facade.DataItem:
    """A data item holding a frame (H, W) or, with ``sequence``, a movie (n, H, W)."""
    spatial = [Calibration.Calibration(scale=scale, units=units) for _ in range(2)]
    calibrations = ([Calibration.Calibration(scale=2.0, units="s")] if sequence else []) + spatial
    xdata = DataAndMetadata.new_data_and_metadata(
        np.asarray(data, np.float32),
        intensity_calibration=Calibration.Calibration(units="counts"),
        dimensional_calibrations=calibrations,
        data_descriptor=DataAndMetadata.DataDescriptor(sequence, 0, 2),
    )
    data_item = DataItem.new_data_item(xdata)
    data_item.title = title
    swift.document_model.append_data_item(data_item)
    return Facade.DataItem(data_item)


def outputs(computation: Facade.Computation) -> dict:
    """The computation's output data items by result name."""
    return {r.name: r.output_items[0] for r in computation._computation.results if r.output_items}
