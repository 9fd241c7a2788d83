"""Editing: run the instruction model on the right pixels (whole image or a crop) at its size."""
