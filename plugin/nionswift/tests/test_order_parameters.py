"""rVAE order parameters through Nion Swift: a movie → maps, manifold, histograms."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import add_data_item, outputs
from nion.swift.model import Symbolic
from nionswift_plugin.atomvae import menu, order_parameters

FAST = {"epochs": 3, "bins": 20}


def test_movie_gives_maps_manifold_and_histograms(swift, movie):
    source = add_data_item(swift, movie, sequence=True, title="movie")
    computation = menu.create_computation(swift.api.library, order_parameters.PROCESSING_ID, source, **FAST)
    swift.document_model.recompute_all()
    assert computation._computation.error_text is None
    found = outputs(computation)
    assert set(found) == {"angle_map", "z1_map", "manifold", "angle_histogram", "z1_histogram"}
    spatial = source._data_item.dimensional_calibrations[1:]
    for name, units in (("angle_map", "rad"), ("z1_map", "")):
        xdata = found[name].xdata
        frames = xdata.metadata["atomvae"]["frames"]
        assert xdata.is_sequence and xdata.data_shape == (len(frames), 160, 160) and frames[0] == 0
        assert list(xdata.dimensional_calibrations[1:]) == list(spatial)
        assert xdata.intensity_calibration.units == units
        finite = xdata.data[np.isfinite(xdata.data)]
        assert finite.size > 1000 and np.isnan(xdata.data).any()  # painted on the atoms, NaN elsewhere
        channel = swift.document_model.get_display_item_for_data_item(found[name]).display_data_channel
        low, high = channel.display_limits  # set from the finite values: Nion's own range is NaN → black
        assert low < finite.min() and high == pytest.approx(finite.max()) and channel.color_map_id == "magma"
    manifold = found["manifold"].xdata
    grid, window = manifold.metadata["atomvae"]["grid"], manifold.metadata["atomvae"]["window_px"]
    assert manifold.data_shape == (grid * window, grid * window) and window == 20  # 4 Å at 0.2 Å/px
    assert manifold.dimensional_calibrations[0].units == "nm"
    for name, units in (("angle_histogram", "rad"), ("z1_histogram", "")):
        xdata = found[name].xdata
        assert xdata.is_sequence and xdata.data_shape == (3, 20)
        assert xdata.dimensional_calibrations[0].units == "s" and xdata.dimensional_calibrations[1].units == units
        edges = xdata.metadata["atomvae"]["edges"]
        assert xdata.dimensional_calibrations[1].convert_to_calibrated_value(20) == pytest.approx(edges[-1])
        assert xdata.data.sum() > 100
        assert swift.document_model.get_display_item_for_data_item(found[name]).display_type == "line_plot"
    assert found["z1_map"].title == "movie z1 map"


def test_single_frame_is_refused(swift, movie):
    source = add_data_item(swift, movie[0])
    computation = menu.create_computation(swift.api.library, order_parameters.PROCESSING_ID, source, **FAST)
    swift.document_model.recompute_all()
    assert "needs a movie" in computation._computation.error_text
    assert outputs(computation) == {}


def test_stop_during_training_leaves_no_result(swift, movie):
    source = add_data_item(swift, movie, sequence=True)
    computation = menu.create_computation(swift.api.library, order_parameters.PROCESSING_ID, source, epochs=500)
    model = computation._computation
    seen = []

    def stop_in_training(name):
        if name == "progress" and model.progress is not None:
            seen.append(model.progress)
            if model.progress > 0.154:  # training starts at 0.153: stop after its first reports
                model.stop()

    listener = model.property_changed_event.listen(stop_in_training)
    start = time.perf_counter()
    swift.document_model.recompute_all()
    listener.close()
    assert time.perf_counter() - start < 120  # 500 epochs would take many minutes
    assert model.last_computed_status == Symbolic.ComputationResultStatusEnum.CANCELLED
    assert model.error_text is None
    assert outputs(computation) == {}
    assert max(seen) < 0.3
