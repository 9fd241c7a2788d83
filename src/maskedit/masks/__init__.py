"""Masks: where an edit is allowed (H×W bool) and how softly it meets the original (alpha)."""
