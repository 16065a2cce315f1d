"""Creating the computations: from the "atomvae" menu on the selected data item,
or from a script through :func:`create_computation`."""

from __future__ import annotations

import gettext
import typing

from nion.swift import Facade
from nion.swift.model import Symbolic

from . import find_atoms, order_parameters

_ = gettext.gettext

HANDLERS = {
    find_atoms.PROCESSING_ID: find_atoms.FindAtoms,
    order_parameters.PROCESSING_ID: order_parameters.OrderParameters,
}


def register() -> None:
    """Registers the computation types with Nion Swift (cheap: no atomvae import)."""
    for processing_id, handler in HANDLERS.items():
        Symbolic.register_computation_type(processing_id, handler)


def create_computation(
    library: Facade.Library, processing_id: str, data_item: Facade.DataItem, **values: typing.Any
) -> Facade.Computation:
    """A new computation of ``processing_id`` on ``data_item``, its parameters typed,
    labelled and ranged (``values`` override their defaults). It runs at once and
    again whenever the data item or a parameter changes."""
    handler = HANDLERS[processing_id]
    unknown = set(values) - {p.name for p in handler.parameters}
    if unknown:
        raise TypeError(f"{handler.label} has no parameter {', '.join(sorted(unknown))}")
    document_model = library._document_model
    computation = document_model.create_computation()
    computation.create_input_item("src", Symbolic.make_item(data_item._data_item), label=handler.inputs["src"]["label"])
    for parameter in handler.parameters:
        parameter.create_variable(computation, values.get(parameter.name))
    computation.processing_id = processing_id
    document_model.append_computation(computation)
    return Facade.Computation(computation)


def _on_selection(api, window: Facade.DocumentWindow, processing_id: str) -> Facade.Computation | None:
    data_item = window.target_data_item
    if data_item is None:
        return None
    return create_computation(api.library, processing_id, data_item)


def _remove_marks(window: Facade.DocumentWindow) -> int:
    display = window.target_display
    return find_atoms.remove_atom_graphics(display._display_item) if display is not None else 0


def build(api, document_controller) -> None:
    """The "atomvae" menu of a document window."""
    window = Facade.DocumentWindow(document_controller)
    menu = document_controller.get_or_create_menu("atomvae_menu", _("atomvae"), "window_menu")
    menu.add_menu_item(_("Find Atoms"), lambda: _on_selection(api, window, find_atoms.PROCESSING_ID))
    menu.add_menu_item(
        _("rVAE Order Parameters (movie)"), lambda: _on_selection(api, window, order_parameters.PROCESSING_ID)
    )
    menu.add_separator()
    menu.add_menu_item(_("Remove Atom Marks"), lambda: _remove_marks(window))
