"""Step 1, Data: open a folder, see what was scanned and which files cannot be used."""
