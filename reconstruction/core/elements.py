"""Fluctuation elements: the measurable, changeable properties of a shot.

Each element has a degree in [0, 1] per image, or no degree at all when it is absent from the
image (no face, no sky). The formulas live in ``extraction.py`` next to the code that measures
them; this module holds the catalogue that the rest of the product (meters, divergence, models)
reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Element:
    name: str  # "group.element", the key used everywhere (JSON, database, models)
    group: str  # the fluctuation model that changes it
    label: str  # what the meter shows
    region: str  # where in the image it lives: "face", "frame", "subject", "sky", "torso"
    per_face: bool  # measured for each face; the main subject's value is the frame's degree
    weight: float  # divergence weight (claim 9): composition weighs more than expression
    threshold: float  # per-element degree gap above which the element counts as diverged
    low: str  # what degree 0 means, for the meter's legend
    high: str  # what degree 1 means
    circular: bool = False  # degrees wrap around (hue: 0 and 1 are the same red)


GROUPS = ("expression", "posture", "composition", "lighting", "climate", "clothing")

ELEMENTS: tuple[Element, ...] = (
    Element("expression.smile", "expression", "Smile", "face", True, 1.0, 0.25, "neutral", "big smile"),
    Element("expression.eye_openness", "expression", "Eyes open", "face", True, 1.0, 0.25, "closed", "wide open"),
    Element("expression.mouth_openness", "expression", "Mouth open", "face", True, 1.0, 0.25, "closed", "wide open"),
    Element("posture.face_yaw", "posture", "Head turn", "face", True, 1.5, 0.2, "turned left", "turned right"),
    Element("posture.face_pitch", "posture", "Head tilt", "face", True, 1.5, 0.2, "looking down", "looking up"),
    Element("posture.motion_blur", "posture", "Motion blur", "face", True, 1.0, 0.25, "sharp", "blurred"),
    Element("composition.subject_x", "composition", "Subject left/right", "subject", False, 2.0, 0.1, "left", "right"),
    Element("composition.subject_y", "composition", "Subject up/down", "subject", False, 2.0, 0.1, "top", "bottom"),
    Element(
        "composition.subject_size",
        "composition",
        "Subject size",
        "subject",
        False,
        2.0,
        0.1,
        "small",
        "fills the frame",
    ),
    Element(
        "composition.subject_spacing",
        "composition",
        "Spacing between people",
        "subject",
        False,
        2.0,
        0.1,
        "close together",
        "far apart",
    ),
    Element("lighting.exposure", "lighting", "Exposure", "frame", False, 1.0, 0.15, "dark", "bright"),
    Element(
        "lighting.light_direction",
        "lighting",
        "Light direction",
        "face",
        False,
        1.0,
        0.2,
        "from the left",
        "from the right",
    ),
    Element("climate.sunniness", "climate", "Sunniness", "sky", False, 1.0, 0.2, "grey", "sunny"),
    Element("climate.cloudiness", "climate", "Cloudiness", "sky", False, 1.0, 0.2, "clear", "overcast"),
    Element(
        "clothing.clothing_hue",
        "clothing",
        "Clothing colour",
        "torso",
        False,
        1.0,
        0.1,
        "hue 0°",
        "hue 360°",
        circular=True,
    ),
    Element(
        "clothing.clothing_saturation", "clothing", "Clothing saturation", "torso", False, 1.0, 0.2, "grey", "vivid"
    ),
)

ELEMENT_NAMES: tuple[str, ...] = tuple(e.name for e in ELEMENTS)
BY_NAME: dict[str, Element] = {e.name: e for e in ELEMENTS}
PER_FACE_NAMES: tuple[str, ...] = tuple(e.name for e in ELEMENTS if e.per_face)


def empty_degrees() -> dict[str, float | None]:
    """Every element, absent: the starting point of an analysis."""
    return {name: None for name in ELEMENT_NAMES}


def by_group() -> dict[str, list[Element]]:
    groups: dict[str, list[Element]] = {g: [] for g in GROUPS}
    for element in ELEMENTS:
        groups[element.group].append(element)
    return groups


# --- degree arithmetic: the one place that knows hue wraps around ------------------------------------


def difference(a: float, b: float, circular: bool = False) -> float:
    """a − b; for a circular element the short way round, in [-0.5, 0.5)."""
    return (a - b + 0.5) % 1.0 - 0.5 if circular else a - b


def arc_distance(a: float, b: float) -> float:
    """|a − b| on the circle of hues (0 and 1 are the same red)."""
    return abs(difference(a, b, circular=True))


def degree_gap(name: str, a: float, b: float) -> float:
    """|a − b| for one element; hue wraps around."""
    return abs(difference(a, b, BY_NAME[name].circular))


def shifted(degree: float, move: float, circular: bool = False) -> float:
    """``degree`` moved by ``move``; a hue past 1 comes round to 0."""
    return (degree + move) % 1.0 if circular else degree + move


def toward(name: str, current: float, target: float, strength: float) -> float:
    """The degree ``strength`` of the way from ``current`` to ``target``; hue goes the short way
    round."""
    circular = BY_NAME[name].circular
    return shifted(current, strength * difference(target, current, circular), circular)
