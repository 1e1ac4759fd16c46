"""Integer window-feature ops (issue 16): see base.py for the interface and the window program."""
