// atomvae: Cancel running command. A running atomvae command polls this persistent
// tag (and Shift+Ctrl held down) and stops at its next progress report.
SetPersistentStringNote("atomvae:Cancel", "1")
