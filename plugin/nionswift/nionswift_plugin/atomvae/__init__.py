"""atomvae for Nion Swift: atom finding and the rotationally invariant VAE's order
parameters (after Kalinin et al., Sci. Adv. 7, eabd5084, 2021) as live computations
from an "atomvae" menu. All science happens in the atomvae package, which is
imported on the first run, not when Nion Swift starts."""

from __future__ import annotations

from nion.swift.model import PlugInManager

from . import menu

menu.register()


class AtomvaeMenuExtension:
    """Adds the "atomvae" menu to every document window."""

    extension_id = "atomvae.nionswift"

    def __init__(self, api_broker: PlugInManager.APIBroker) -> None:
        self.__api = api_broker.get_api(version="~1.0")
        self.__api.application._application.register_menu_handler(self.__build_menu)

    def close(self) -> None:
        self.__api.application._application.unregister_menu_handler(self.__build_menu)

    def __build_menu(self, document_controller) -> None:
        menu.build(self.__api, document_controller)
