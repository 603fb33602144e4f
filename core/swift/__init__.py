"""ms-swift as a shared room: its dialects and sft argv, the flag check against the installed swift,
and the diagnosis of a failed swift process (training, export or deploy alike)."""
