// atomvae: rVAE order parameters (GMS 3.4).
// Runs scripts/atomvae_order_parameters.py, whose folder install_atomvae_menus.s recorded in the
// persistent tag "atomvae:Scripts folder". The Python script keeps DM responsive
// itself (its work runs in a Python thread) and imports torch on the main thread.
// GMS 3.4 reads ExecutePythonScriptFile's flag inverted: 1 runs the script
// synchronously on this (the main) thread. GMS 3.5 and later: use ../gms-3.5-and-later.
string folder
if (!GetPersistentStringNote("atomvae:Scripts folder", folder))
{
	OkDialog("atomvae: run launchers/install_atomvae_menus.s once first (see README.md).")
	exit(0)
}
ExecutePythonScriptFile(PathConcatenate(folder, "atomvae_order_parameters.py"), 1)
