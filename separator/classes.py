"""The stem classes the models know, in the order of the mask head's outputs."""

CLASSES: tuple[str, ...] = ("drums", "bass", "guitar", "vocals", "other")
