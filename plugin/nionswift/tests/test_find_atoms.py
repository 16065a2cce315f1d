"""Find atoms through Nion Swift: outputs, calibrations, graphics, errors, stop, leaks."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import atomvae
import numpy as np
import pytest
from conftest import add_data_item, outputs, swift_document
from nion.swift.model import Symbolic
from nion.swift.test import TestContext
from nionswift_plugin.atomvae import find_atoms, menu


def reference_atoms(frames, threshold=0.5, border=0.0):
    p = atomvae.Segmenter().segment(frames, 0.2)
    return atomvae.find_atoms(p, 0.2, threshold=threshold, border=border)


def marks(swift, data_item, computation):
    display_item = swift.document_model.get_display_item_for_data_item(data_item._data_item)
    graphic_id = find_atoms.atom_graphic_id(computation)
    return [g for g in display_item.graphics if g.graphic_id == graphic_id]


def test_plugin_import_does_not_import_atomvae_or_torch():
    code = "import sys, nionswift_plugin.atomvae; print('atomvae' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_frame_gives_probabilities_graphics_and_table(swift, movie):
    source = add_data_item(swift, movie[0], title="frame")
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    assert computation._computation.error_text is None
    found = outputs(computation)
    assert set(found) == {"probability_C", "probability_Si"}
    expected = reference_atoms(movie[0])
    for name, data_item in found.items():
        assert data_item.data_shape == (160, 160)
        assert data_item.dimensional_calibrations == source._data_item.dimensional_calibrations
        assert data_item.title == f"frame p({name.split('_')[1]})"
        table = data_item.metadata["atomvae"]["atoms"]
        assert len(table["x"]) == len(expected) and table["class_names"] == ["background", "C", "Si"]
        assert table["pixel_size_angstrom"] == pytest.approx(0.2)
    np.testing.assert_allclose(found["probability_Si"].data, atomvae.Segmenter().segment(movie[0], 0.2)[2], atol=1e-6)
    points = marks(swift, source, computation)
    assert len(points) == len(expected) > 100
    assert {p.stroke_color for p in points} == {find_atoms.CLASS_COLOURS[c] for c in set(expected["class"])}
    y, x = points[0].position
    assert (y * 160 - 0.5, x * 160 - 0.5) == pytest.approx((expected["y"][0], expected["x"][0]), abs=1e-4)
    # A parameter change reruns it; the graphics are reused, not duplicated.
    computation.set_input_value("border", 20.0)
    swift.document_model.recompute_all()
    assert len(marks(swift, source, computation)) == len(reference_atoms(movie[0], border=20.0)) < len(expected)
    # Too many atoms for graphics: none are drawn, the table is still there.
    computation.set_input_value("max_marks", 10)
    swift.document_model.recompute_all()
    assert marks(swift, source, computation) == []
    assert found["probability_C"].metadata["atomvae"]["atoms"]["marked_as_graphics"] == 0


def test_movie_gives_sequences_and_atoms_per_frame(swift, movie):
    source = add_data_item(swift, movie, sequence=True, title="movie")
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source, threshold=0.6)
    swift.document_model.recompute_all()
    assert computation._computation.error_text is None
    found = outputs(computation)
    expected = reference_atoms(movie, threshold=0.6)
    for name in ("probability_C", "probability_Si"):
        xdata = found[name].xdata
        assert xdata.data_shape == (3, 160, 160) and xdata.is_sequence
        assert xdata.dimensional_calibrations == source._data_item.dimensional_calibrations
    counts = found["atom_counts"].xdata
    assert counts.data_shape == (2, 3) and counts.dimensional_calibrations[1].units == "s"
    for k in (1, 2):
        np.testing.assert_array_equal(
            counts.data[k - 1], np.bincount(expected["frame"][expected["class"] == k], minlength=3)
        )
    assert swift.document_model.get_display_item_for_data_item(found["atom_counts"]).display_type == "line_plot"
    assert found["atom_counts"].metadata["atomvae"]["atoms"]["counts"]["C"] == int(np.sum(expected["class"] == 1))
    assert marks(swift, source, computation) == []


@pytest.mark.parametrize(
    "scale, units, message",
    [(1.0, "", "uncalibrated"), (0.5, "eV", "not a length"), (0.2, "Å", None), (20.0, "pm", None)],
)
def test_calibrations(swift, movie, scale, units, message):
    source = add_data_item(swift, movie[1][:128, :128], scale=scale, units=units)
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    error = computation._computation.error_text
    if message is None:
        assert error is None and len(outputs(computation)) == 2
    else:
        assert message in error and outputs(computation) == {}


def test_library_errors_reach_error_text(swift, movie):
    # 0.001 Å/px is outside what atomvae accepts: its own message lands in error_text.
    source = add_data_item(swift, movie[0], scale=0.0001)
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    assert "pixel size" in computation._computation.error_text
    assert outputs(computation) == {}


def test_stopped_run_keeps_the_previous_result(swift, movie):
    source = add_data_item(swift, np.concatenate([movie, movie]), sequence=True)
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    before = outputs(computation)["probability_C"].metadata["atomvae"]["settings"]
    model = computation._computation

    def stop_midway(name):
        if name == "progress" and (model.progress or 0) > 0.3:
            model.stop()

    listener = model.property_changed_event.listen(stop_midway)
    computation.set_input_value("threshold", 0.7)
    swift.document_model.recompute_all()
    listener.close()
    assert model.last_computed_status == Symbolic.ComputationResultStatusEnum.CANCELLED
    assert model.error_text is None
    assert outputs(computation)["probability_C"].metadata["atomvae"]["settings"] == before


def test_no_leaks(movie):
    class Case:
        def assertEqual(self, a, b):  # noqa: N802 - the protocol of TestContext.end_leaks
            assert a == b

    TestContext.begin_leaks()
    with swift_document() as swift:
        source = add_data_item(swift, movie[2][:128, :128])
        computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
        swift.document_model.recompute_all()
        assert computation._computation.error_text is None and len(marks(swift, source, computation)) > 0
        del computation, source
    TestContext.end_leaks(Case())


def test_menu_creates_computations_on_the_selection(swift, movie):
    source = add_data_item(swift, movie, sequence=True)
    controller = swift.document_controller
    menu.build(swift.api, controller)
    items = {item.action.title: item.action for item in controller._atomvae_menu.items if item.action}
    assert set(items) == {"Find Atoms", "rVAE Order Parameters (movie)", "Remove Atom Marks"}
    display_item = swift.document_model.get_display_item_for_data_item(source._data_item)
    controller.select_display_items_in_data_panel([display_item])
    controller.data_panel_focused()
    items["Find Atoms"].callback()
    computations = swift.document_model.computations
    assert [c.processing_id for c in computations] == [find_atoms.PROCESSING_ID]
    labels = {v.name: v.display_label for v in computations[0].variables}
    assert labels["threshold"].startswith("Threshold") and labels["src"] == "Frame or movie"
    threshold = next(v for v in computations[0].variables if v.name == "threshold")
    assert (threshold.value, threshold.value_min, threshold.value_max) == (0.5, 0.01, 0.99)
    assert computations[0].label == "Find atoms (atomvae)"


def test_pixel_size_from_calibrations():
    from nion.data import Calibration
    from nionswift_plugin.atomvae._frames import InputError, pixel_size_angstrom

    def size(*pairs):
        return pixel_size_angstrom([Calibration.Calibration(scale=s, units=u) for s, u in pairs])

    assert size((0.02, "nm"), (0.02, "nm")) == pytest.approx(0.2)
    assert size((0.2, "Å"), (0.2, "Å")) == pytest.approx(0.2)
    assert size((20.0, "pm"), (20.0, "pm")) == pytest.approx(0.2)
    with pytest.raises(InputError, match="not square"):
        size((0.02, "nm"), (0.04, "nm"))
    with pytest.raises(InputError, match="not a length"):
        size((0.1, "1/nm"), (0.1, "1/nm"))


def test_older_nionswift_runs_execute_without_context(swift, movie, monkeypatch):
    # nionswift < 16.17 has no execute_task: it calls execute(**inputs) and commit().
    monkeypatch.delattr(find_atoms.FindAtoms, "execute_task")
    source = add_data_item(swift, movie[0][:128, :128])
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    assert computation._computation.error_text is None
    assert len(marks(swift, source, computation)) == len(reference_atoms(movie[0][:128, :128]))


def test_nion_swift_loads_the_plug_in(swift):
    import nionswift_plugin
    from nion.swift.model import PlugInManager

    assert "atomvae" in {m.name for m in pkgutil.iter_modules(nionswift_plugin.__path__)}
    before = len(PlugInManager.extensions)
    module = PlugInManager.load_plug_in("nionswift_plugin", "nionswift_plugin.atomvae")
    try:
        assert module is not None
        added = PlugInManager.extensions[before:]
        assert [type(e).__name__ for e in added] == ["AtomvaeMenuExtension"]
    finally:
        for extension in PlugInManager.extensions[before:]:
            extension.close()
        del PlugInManager.extensions[before:]
