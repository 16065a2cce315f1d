// Installs the atomvae commands into DigitalMicrograph's menu "atomvae".
// 1. Set `root` to this copy of plugin/digitalmicrograph and `gms34` to 1 on GMS 3.4.
// 2. File > Open this file, then Execute (Ctrl+Enter). 3. Restart DigitalMicrograph.
string root = "C:\\atomvae\\plugin\\digitalmicrograph"
number gms34 = 0

string launchers = PathConcatenate(root, "launchers")
string variant = "gms-3.5-and-later"
if (gms34)
	variant = "gms-3.4"
SetPersistentStringNote("atomvae:Scripts folder", PathConcatenate(root, "scripts"))
SetPersistentStringNote("atomvae:Package folder", root)
AddScriptFileToMenu(PathConcatenate(PathConcatenate(launchers, variant), "atomvae_find_atoms.s"), "Find atoms", "atomvae", "", 0)
AddScriptFileToMenu(PathConcatenate(PathConcatenate(launchers, variant), "atomvae_order_parameters.s"), "rVAE order parameters", "atomvae", "", 0)
AddScriptFileToMenu(PathConcatenate(launchers, "atomvae_cancel.s"), "Cancel running command", "atomvae", "", 0)
OkDialog("atomvae: menu 'atomvae' installed (" + variant + "); restart DigitalMicrograph to see it.")
