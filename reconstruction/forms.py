"""Forms of the settings page: how shots are previewed, and the user's intention table."""

from __future__ import annotations

import re

from django import forms

from .core.elements import BY_NAME, ELEMENTS
from .core.generators import TRAINABLE_GROUPS
from .core.intention import FACING, INTENTIONS, LABELS
from .models import ShootingPreferences

# The elements an intention can ask for: those a model of the user's can change, and the head's
# turn and tilt, which a group photo asks of every face (each person's own best take serves them).
TABLE_ELEMENTS = [e for e in ELEMENTS if e.group in TRAINABLE_GROUPS or e.name in FACING]


class PreferencesForm(forms.ModelForm):
    model_order = forms.CharField(
        required=False,
        help_text=f"Groups in the order to apply them, comma-separated ({', '.join(TRAINABLE_GROUPS)}); "
        "empty: the largest gap first (FIG. 5D).",
    )

    class Meta:
        model = ShootingPreferences
        fields = [
            "preview_mode",
            "soften",
            "sequence_unit",
            "sequence_order",
            "placeholder",
            "placeholder_colour",
            "divergence_method",
            "divergence_scale",
            "pixel_fraction",
            "model_order",
        ]
        labels = {
            "preview_mode": "Preview",
            "soften": "Gentler preview by",
            "sequence_unit": "Sequence grows",
            "sequence_order": "Sequence order",
            "placeholder": "Placeholder",
            "placeholder_colour": "Placeholder colour",
            "divergence_method": "Divergence measured by",
            "divergence_scale": "Threshold scale",
            "pixel_fraction": "Changed share of the frame",
        }
        help_texts = {
            "soften": "Modes 1 and 2.",
            "sequence_unit": "Mode 3.",
            "sequence_order": "Mode 3.",
            "placeholder": "Mode 2: shown when even the gentler preview differs a lot.",
            "divergence_scale": "Multiplies every element's threshold: below 1 previews sooner, above 1 later.",
            "pixel_fraction": "Claim 10: the share of the frame whose pixels must change to count as diverged.",
        }
        widgets = {"placeholder_colour": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["model_order"] = ", ".join(self.instance.model_order or [])

    def clean_model_order(self):
        groups = [g.strip() for g in self.cleaned_data["model_order"].split(",") if g.strip()]
        unknown = [g for g in groups if g not in TRAINABLE_GROUPS]
        if unknown:
            raise forms.ValidationError(f"unknown groups: {', '.join(unknown)}; use {', '.join(TRAINABLE_GROUPS)}")
        if len(set(groups)) != len(groups):
            raise forms.ValidationError("each group once")
        return groups

    def clean_placeholder_colour(self):
        colour = self.cleaned_data["placeholder_colour"]
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
            raise forms.ValidationError("a colour like #1b1f27")
        return colour.lower()

    def clean_divergence_scale(self):
        value = self.cleaned_data["divergence_scale"]
        if not 0.1 <= value <= 5:
            raise forms.ValidationError("between 0.1 and 5")
        return value

    def clean_pixel_fraction(self):
        value = self.cleaned_data["pixel_fraction"]
        if not 0.01 <= value <= 1:
            raise forms.ValidationError("between 0.01 and 1")
        return value


def table_field(intention: str, element: str) -> str:
    return f"{intention}__{element.replace('.', '__')}"


class IntentionTableForm(forms.Form):
    """FIG. 5B as a grid: one number per (intention, element); blank leaves the element alone."""

    def __init__(self, table: dict[str, dict[str, float]], *args, **kwargs):
        super().__init__(*args, **kwargs)
        for intention in INTENTIONS:
            for element in TABLE_ELEMENTS:
                self.fields[table_field(intention, element.name)] = forms.FloatField(
                    required=False,
                    min_value=0.0,
                    max_value=1.0,
                    label=f"{LABELS[intention]}: {element.label}",
                    initial=table.get(intention, {}).get(element.name),
                    widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
                )

    def rows(self):
        """For the template: one row per element, one bound field per intention."""
        return [(BY_NAME[e.name], [self[table_field(i, e.name)] for i in INTENTIONS]) for e in TABLE_ELEMENTS]

    def table(self) -> dict[str, dict[str, float]]:
        return {
            i: {e.name: v for e in TABLE_ELEMENTS if (v := self.cleaned_data.get(table_field(i, e.name))) is not None}
            for i in INTENTIONS
        }
