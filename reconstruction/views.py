"""My models: versions per group with their data histograms (FIG. 5A), training with live progress,
rollback and delete. Thin: every write goes through ``reconstruction.services``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import services
from .core.elements import BY_NAME
from .core.generators import TRAINABLE_GROUPS
from .core.intention import INTENTIONS, LABELS
from .forms import IntentionTableForm, PreferencesForm
from .models import TrainingRun


def run_json(run: TrainingRun) -> dict:
    left = None
    if run.status == TrainingRun.RUNNING and run.started_at and run.step and run.total:
        elapsed = (timezone.now() - run.started_at).total_seconds()
        left = round(elapsed / run.step * max(0, run.total - run.step), 1)
    return {
        "id": run.pk,
        "group": run.group,
        "status": run.status,
        "step": run.step,
        "total": run.total,
        "loss": None if run.loss is None else round(run.loss, 4),
        "seconds_left": left,
        "message": run.message,
        "version": run.result.version if run.result_id else None,
    }


def histogram_view(name: str, counts: list[int], span) -> dict:
    top = max(counts) if counts and max(counts) else 1
    bars = [
        {"x": i * 10, "y": round(44 - 40 * c / top, 1), "h": round(40 * c / top, 1), "count": c}
        for i, c in enumerate(counts)
    ]
    rng = None
    if span:
        lo, hi = span
        # A circular range through 0 (hue) is drawn as two pieces, at both ends of the axis.
        pieces = [(lo, hi)] if lo <= hi else [(0.0, hi), (lo, 1.0)]
        rng = {"lo": lo, "hi": hi, "rects": [{"x": round(a * 200, 1), "w": round((b - a) * 200, 1)} for a, b in pieces]}
    return {"name": name, "label": BY_NAME[name].label, "bars": bars, "range": rng, "total": sum(counts)}


def figures(row, previous) -> list[dict]:
    """A version's quality figures, each numeric one with how it moved since the version before
    (a fine-tune after feedback should say what the feedback changed)."""
    out = []
    for name, value in row.metrics.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        before = previous.metrics.get(name) if previous is not None else None
        delta = ""
        if number and isinstance(before, (int, float)) and not isinstance(before, bool) and abs(value - before) >= 5e-5:
            delta = f"{value - before:+.4g}"
        out.append({"name": name, "value": value, "delta": delta})
    return out


def abilities(version) -> list[dict]:
    """One sentence per element: how far this version can move it, and what to shoot to teach it
    more (its range is what the user's own frames showed)."""
    out = []
    for name, span in version.ranges.items():
        element = BY_NAME[name]
        if span is None:
            missing = next((m for m in version.missing if m.startswith(element.label + ":")), "")
            text = missing.split(": ", 1)[1] if missing else "not learned yet"
            out.append({"element": name, "text": f"{element.label}: {text}", "learned": False})
            continue
        lo, hi = span
        if element.circular:
            out.append({"element": name, "text": f"{element.label}: any, as seen in your frames", "learned": True})
            continue
        text = f"{element.label}: from {lo:.2f} to {hi:.2f} of 0–1"
        more = []
        if hi < 0.8:
            more.append(f'a few frames where it is "{element.high}"')
        if lo > 0.2:
            more.append(f'a few {"" if more else "frames "}where it is "{element.low}"')
        if more:
            text += "; shoot " + " and ".join(more) + " to go further"
        out.append({"element": name, "text": text, "learned": True})
    return out


# A figure this much lower than the version before says the new version got worse at it.
FELL = {"progress": 0.1, "realism_ssim.model": 0.01, "preservation_ssim": 0.01}


def fell(row, previous) -> list[str]:
    """Sentences for the figures that fell since the version before (after a verdict, say)."""
    if previous is None:
        return []
    out = []
    for name, value in row.metrics.items():
        before = previous.metrics.get(name)
        bound = FELL.get(name) or (FELL["progress"] if name.startswith("progress.") else None)
        if bound is None or not isinstance(value, (int, float)) or not isinstance(before, (int, float)):
            continue
        if before - value >= bound:
            what = (
                BY_NAME.get(f"{row.group}.{name.split('.', 1)[1]}").label.lower() + " reached"
                if name.startswith("progress.") and f"{row.group}.{name.split('.', 1)[1]}" in BY_NAME
                else name
            )
            out.append(f"{what} {before:.2f} → {value:.2f}")
    return out


@login_required
def model_list(request):
    rows = list(services.models_for(request.user).order_by("group", "-version").prefetch_related("learned_from"))
    runs = services.latest_runs(request.user)
    damaged = services.damaged_versions(request.user)
    groups = []
    for group in TRAINABLE_GROUPS:
        versions = [r for r in rows if r.group == group]
        for newer, older in zip(versions, versions[1:] + [None]):
            newer.figures = figures(newer, older)
            newer.fell = fell(newer, older)
        active = next((r for r in versions if r.active), None)
        shown = active or (versions[0] if versions else None)
        groups.append(
            {
                "name": group,
                "versions": versions,
                "active": active,
                "histograms": [
                    histogram_view(n, shown.histograms.get(n, []), shown.ranges.get(n)) for n in shown.histograms
                ]
                if shown
                else [],
                "missing": shown.missing if shown else [],
                "abilities": abilities(shown) if shown else [],
                "run": run_json(runs[group]) if group in runs else None,
                "damaged": damaged.get(active.pk, "") if active else "",
            }
        )
    return render(
        request,
        "reconstruction/models.html",
        {
            "groups": groups,
            "learning_count": services.learning_samples_for(request.user).count(),
        },
    )


@login_required
def runs(request):
    """Progress of this user's latest run per group, for the live progress bars."""
    return JsonResponse({"runs": [run_json(r) for r in services.latest_runs(request.user).values()]})


@login_required
@require_POST
def train(request, group):
    if group not in TRAINABLE_GROUPS:
        raise Http404
    try:
        services.start_training(request.user, group)
    except services.TrainingBusy:
        messages.info(request, f"{group} is already training.")
    return redirect("reconstruction:models")


@login_required
@require_POST
def activate(request, pk):
    row = services.activate(request.user, pk)
    messages.success(request, f"{row.group}: version {row.version} is now in use.")
    return redirect("reconstruction:models")


@login_required
@require_POST
def delete(request, pk):
    row = services.get_model(request.user, pk)
    services.delete_version(request.user, pk)
    messages.success(request, f"{row.group}: version {row.version} deleted.")
    return redirect("reconstruction:models")


@login_required
def preferences(request):
    """The settings page: preview mode and divergence, model order, the intention table."""
    prefs = services.preferences_for(request.user)
    table = services.intention_table_for(request.user)
    prefs_form, table_form = PreferencesForm(instance=prefs), IntentionTableForm(table)
    if request.method == "POST":
        if request.POST.get("form") == "preferences":
            prefs_form = PreferencesForm(request.POST, instance=prefs)
            if prefs_form.is_valid():
                services.save_preferences(request.user, **prefs_form.cleaned_data)
                messages.success(request, "Preview settings saved.")
                return redirect("reconstruction:settings")
        elif request.POST.get("form") == "intentions":
            table_form = IntentionTableForm(table, request.POST)
            if table_form.is_valid():
                services.save_intention_table(request.user, table_form.table())
                messages.success(request, "Intention table saved.")
                return redirect("reconstruction:settings")
        elif request.POST.get("form") == "reset":
            services.save_intention_table(request.user, None)
            messages.success(request, "Intention table back to the defaults.")
            return redirect("reconstruction:settings")
        else:
            raise Http404("unknown form")
    return render(
        request,
        "reconstruction/settings.html",
        {
            "prefs_form": prefs_form,
            "table_form": table_form,
            "intentions": [(i, LABELS[i]) for i in INTENTIONS],
            "customised": services.customised_intentions(request.user),
        },
    )
