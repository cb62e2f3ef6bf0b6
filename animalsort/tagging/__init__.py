"""``animalsort tag``: labels as XMP keywords (keywords → xmp → run; delta and undo for undo)."""
