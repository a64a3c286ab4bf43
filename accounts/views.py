from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import services


class SignupForm(UserCreationForm):
    def clean_username(self):
        name = super().clean_username()  # None once Django found a name differing only in case
        if name is None:
            return name
        if not name.isascii():
            raise ValidationError("Use Latin letters, digits and @ . + - _ only: a name with look-alike letters "
                                  "from other alphabets could pass for someone else's.")
        return name

    def save(self, commit=True):
        return services.create_user(self.cleaned_data["username"], self.cleaned_data["password1"])


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("capture:shoot")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("capture:shoot")
    return render(request, "registration/signup.html", {"form": form})
