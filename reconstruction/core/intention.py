"""Shooting intention ([0058]–[0060], [0077]–[0080]) and the intention table (FIG. 5B).

An intention comes from one of three places, strongest first: the user chose it on the page, the
user said or typed a wish ("I wish it was sunny"), or it is inferred from the shot itself (faces,
smiles, how many people, whether sky is visible, how large the subject is) and from how many
attempts the user made at the same scene. The result always says where it came from and why, so
the page can show it.

The intention table maps an intention to ideal degrees for some elements; elements it leaves out
are not changed. A said wish can also name elements directly ("sunny" → climate.sunniness high);
those override the table for that shot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .elements import BY_NAME

INTENTIONS: tuple[str, ...] = ("fun", "souvenir", "group", "portrait", "travel", "landscape")

LABELS = {
    "fun": "Fun",
    "souvenir": "Souvenir photo",
    "group": "Group photo",
    "portrait": "Portrait",
    "travel": "Travel",
    "landscape": "Landscape",
}

# FIG. 5B: ideal degrees per intention. "fun" wants the broadest smile (the figure's 7 of 7) and a
# centred subject; landscapes only care about the weather and the light.
DEFAULT_TABLE: dict[str, dict[str, float]] = {
    "fun": {
        "expression.smile": 1.0,
        "expression.eye_openness": 0.8,
        "expression.mouth_openness": 0.45,
        "composition.subject_x": 0.5,
        "lighting.exposure": 0.6,
    },
    "souvenir": {
        "expression.smile": 0.7,
        "expression.eye_openness": 0.85,
        "composition.subject_x": 0.5,
        "composition.subject_size": 0.35,
        "lighting.exposure": 0.55,
        "climate.sunniness": 0.8,
    },
    # Everyone at their best at once: eyes open, facing the camera, nobody caught mid-word, a
    # gentle smile. Each face is held to it (the user's own through their models, everyone else
    # through their own takes from the seconds before the shutter).
    "group": {
        "expression.smile": 0.6,
        "expression.eye_openness": 0.85,
        "expression.mouth_openness": 0.1,
        "posture.face_yaw": 0.5,
        "posture.face_pitch": 0.5,
        "lighting.exposure": 0.55,
    },
    "portrait": {
        "expression.smile": 0.55,
        "expression.eye_openness": 0.85,
        "expression.mouth_openness": 0.1,
        "composition.subject_x": 0.5,
        "composition.subject_y": 0.42,
        "composition.subject_size": 0.6,
        "lighting.exposure": 0.55,
        "lighting.light_direction": 0.4,
    },
    "travel": {
        "expression.smile": 0.7,
        "expression.eye_openness": 0.85,
        "composition.subject_x": 0.36,
        "composition.subject_size": 0.3,
        "climate.sunniness": 0.9,
        "climate.cloudiness": 0.15,
        "lighting.exposure": 0.55,
    },
    "landscape": {
        "climate.sunniness": 0.9,
        "climate.cloudiness": 0.2,
        "lighting.exposure": 0.55,
    },
}


def validate_table(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The table with unknown intentions or elements and out-of-range degrees refused."""
    clean: dict[str, dict[str, float]] = {}
    for intention, ideals in table.items():
        if intention not in INTENTIONS:
            raise ValueError(f"unknown intention {intention!r}")
        row = {}
        for name, value in ideals.items():
            if name not in BY_NAME:
                raise ValueError(f"{intention}: unknown element {name!r}")
            value = float(value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{intention}: {name} must be between 0 and 1, got {value}")
            row[name] = value
        clean[intention] = row
    return clean


@dataclass
class Intention:
    """The shooting intention identifier for one shot, with where it came from and why."""

    name: str  # one of INTENTIONS
    source: str  # "chosen" (picked on the page), "said" (typed or spoken wish), "image" (inferred)
    confidence: float  # 0–1; repeated attempts at the same scene raise it
    reasons: list[str] = field(default_factory=list)  # sentences for the page
    wished: dict[str, float] = field(default_factory=dict)  # element degrees named by the wish itself

    def ideals(self, table: dict[str, dict[str, float]]) -> dict[str, float]:
        """The ideal degrees for this shot: the table's row, then what the wish named."""
        return dict(table.get(self.name, {})) | self.wished

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "label": LABELS[self.name],
            "source": self.source,
            "confidence": round(self.confidence, 2),
            "reasons": self.reasons,
            "wished": {k: round(v, 3) for k, v in self.wished.items()},
        }


# --- what a wish says ---------------------------------------------------------------------------

# (pattern, intention or None, {element: ideal}, reason). Complaints name the ideal state: "it's
# clouded over" means the user wants sun ([0078]).
_WISHES: tuple[tuple[str, str | None, dict[str, float], str], ...] = (
    (
        r"\b(sunn?y|sunshine|sun|blue sky|clouded|cloudy|overcast|grey sky|gray sky|gloomy)\b",
        None,
        {"climate.sunniness": 0.95, "climate.cloudiness": 0.1},
        "you asked for sunshine",
    ),
    (r"\b(smil\w*|happ\w*|laugh\w*|cheer\w*)\b", "fun", {"expression.smile": 1.0}, "you asked for a smile"),
    (r"\b(eyes?|blink\w*)\b", None, {"expression.eye_openness": 0.9}, "you asked for open eyes"),
    (
        r"\b(too dark|brighter|more light|dark|underexposed)\b",
        None,
        {"lighting.exposure": 0.65},
        "you asked for more light",
    ),
    (r"\b(too bright|overexposed|darker)\b", None, {"lighting.exposure": 0.45}, "you asked for less light"),
    (r"\b(cent(er|re)d?|middle)\b", None, {"composition.subject_x": 0.5}, "you asked for a centred subject"),
    (r"\b(closer|zoom in|bigger)\b", None, {"composition.subject_size": 0.65}, "you asked for a closer framing"),
    (
        r"\b(wider|zoom out|smaller|more background)\b",
        None,
        {"composition.subject_size": 0.25},
        "you asked for a wider framing",
    ),
    (r"\b(fun|party|silly|joy\w*)\b", "fun", {}, "you said it is for fun"),
    (r"\b(group|everyone|everybody|all of us|family|friends|team)\b", "group", {}, "you said it is a group photo"),
    (r"\b(souvenir|memor\w*|commemorat\w*|together)\b", "souvenir", {}, "you said it is a souvenir"),
    (r"\b(portrait|headshot|profile picture|cv|linkedin)\b", "portrait", {}, "you asked for a portrait"),
    (r"\b(travel\w*|trip|holiday|vacation|journey|abroad)\b", "travel", {}, "you said it is a travel photo"),
    (r"\b(landscape|scenery|view|mountains?|sea|beach|sunset)\b", "landscape", {}, "you asked for a landscape"),
)

_COLOURS = {
    "red": 0.0,
    "orange": 0.08,
    "yellow": 0.16,
    "green": 0.33,
    "teal": 0.47,
    "cyan": 0.5,
    "blue": 0.62,
    "purple": 0.75,
    "violet": 0.75,
    "magenta": 0.83,
    "pink": 0.92,
}
_CLOTHES = r"(shirt|t-shirt|top|jumper|sweater|jacket|dress|hoodie|clothes|blouse|coat)"


def parse_wish(text: str) -> tuple[str | None, dict[str, float], list[str]]:
    """(intention or None, element ideals, reasons) named by a typed or spoken wish."""
    said = " ".join(text.lower().split())
    intention, wished, reasons = None, {}, []
    for pattern, name, ideals, reason in _WISHES:
        if re.search(pattern, said):
            if name and intention is None:
                intention = name
            for element, value in ideals.items():
                wished.setdefault(element, value)
            reasons.append(f"{reason} (\u201c{text.strip()[:80]}\u201d)")
    colours = "(" + "|".join(_COLOURS) + ")"
    # "a blue shirt" or "my shirt (in) blue"
    match = re.search(r"\b" + colours + r"\s+" + _CLOTHES + r"\b", said)
    colour, garment = (match.group(1), match.group(2)) if match else (None, None)
    if not match and (match := re.search(r"\b" + _CLOTHES + r"\s+(?:\w+\s+)?" + colours + r"\b", said)):
        garment, colour = match.group(1), match.group(2)
    if colour:
        wished["clothing.clothing_hue"] = _COLOURS[colour]
        wished["clothing.clothing_saturation"] = 0.7
        reasons.append(f"you asked for a {colour} {garment}")
    return intention, wished, reasons


# --- what the image says ------------------------------------------------------------------------


# The elements that say where a face looks: no model of the user's turns a head, but a group
# photo asks them of every face, and each person's own best take can serve them.
FACING = ("posture.face_yaw", "posture.face_pitch")

# A face less than this share of the largest face's height is a passer-by, not one of the group.
GROUP_FACE = 0.45


def people_in(boxes) -> int:
    """How many people the shot is of: the faces (x, y, w, h) at least ``GROUP_FACE`` as tall as
    the largest one (a stranger far behind a couple does not make a group photo)."""
    heights = [b[3] for b in boxes]
    if not heights:
        return 0
    return sum(h >= GROUP_FACE * max(heights) for h in heights)


def infer_from_image(elements: dict[str, float | None], faces: int, attempts: int = 1, behind: int = 0) -> Intention:
    """[0059], [0077]: the intention the shot itself suggests. ``attempts`` counts this shot and the
    user's recent shots of the same scene ([0059] "the number of shooting attempts"): a scene
    shot again and again is a posed picture the user cares about, so it leans to a portrait or a
    souvenir and the inference grows more confident. ``behind``: faces too small beside the others
    to count among the people the shot is of (``people_in``), said in the reason."""
    smile = elements.get("expression.smile")
    size = elements.get("composition.subject_size")
    sky = elements.get("climate.sunniness") is not None
    reasons: list[str] = []
    if faces == 0:
        name = "landscape"
        reasons.append("no face in the shot" + (" and the sky is visible" if sky else ""))
        confidence = 0.7 if sky else 0.45
    elif faces >= 2:
        if sky and size is not None and size < 0.25:
            name, confidence = "souvenir", 0.6
            reasons.append(f"{faces} people small before the sky: a souvenir of the place")
        else:
            name, confidence = "group", 0.65
            farther = f" (and {behind} farther back)" if behind else ""
            reasons.append(f"{faces} people in the shot{farther}: everyone's eyes open, facing the camera")
    elif sky and (size is None or size < 0.4):
        name, confidence = "travel", 0.6
        reasons.append(
            "one person with the sky behind" + (f", small in the frame ({size:.2f})" if size is not None else "")
        )
    elif smile is not None and smile >= 0.5 and attempts < 3:
        name, confidence = "fun", 0.6
        reasons.append(f"one person smiling ({smile:.2f})")
    else:
        name, confidence = "portrait", 0.55
        reasons.append("one person, close up" if size is None or size >= 0.4 else "one person in the frame")
    if attempts >= 2:
        if attempts >= 3 and name == "fun" and faces == 1:
            name = "portrait"
        confidence = min(0.95, confidence + 0.1 * (attempts - 1))
        reasons.append(f"attempt {attempts} at this scene: a picture you care about")
    return Intention(name=name, source="image", confidence=confidence, reasons=reasons)


def infer_intention(
    elements: dict[str, float | None],
    faces: int,
    attempts: int = 1,
    chosen: str | None = None,
    wish: str | None = None,
    behind: int = 0,
) -> Intention:
    """The shot's intention: chosen beats said beats inferred. A wish's element ideals apply
    whatever the intention."""
    inferred = infer_from_image(elements, faces, attempts, behind)
    said_name, wished, said_reasons = parse_wish(wish) if wish and wish.strip() else (None, {}, [])
    if chosen:
        if chosen not in INTENTIONS:
            raise ValueError(f"unknown intention {chosen!r}; known: {', '.join(INTENTIONS)}")
        return Intention(chosen, "chosen", 1.0, [f"you chose {LABELS[chosen]}"] + said_reasons, wished)
    if said_name or wished:
        name = said_name or inferred.name
        reasons = said_reasons + ([] if said_name else inferred.reasons)
        return Intention(name, "said", 0.9, reasons, wished)
    return inferred
