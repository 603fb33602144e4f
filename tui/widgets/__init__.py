"""Panes: the loss plot, the GPU pane, the run list. They render what core computed."""
