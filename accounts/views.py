import math

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import services, throttle


class SignupForm(UserCreationForm):
    def clean_username(self):
        name = super().clean_username()  # None once Django found a name differing only in case
        if name is None:
            return name
        if not name.isascii():
            raise ValidationError(
                "Use Latin letters, digits and @ . + - _ only: a name with look-alike letters "
                "from other alphabets could pass for someone else's."
            )
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


class ThrottledLoginView(LoginView):
    """Sign-in that slows password guessing down (``accounts.throttle``)."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        self._who = (request.POST.get("username", ""), request.META.get("REMOTE_ADDR", ""))
        wait = throttle.wait_for(*self._who)
        if wait > 0:
            # An unbound form: the password is not checked at all while the wait runs.
            form = self.get_form_class()(request, initial={"username": self._who[0]})
            form.cleaned_data = {}
            form.add_error(
                None,
                f"Too many failed sign-ins for this account or from this address: try again in "
                f"{math.ceil(wait)} seconds.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        throttle.succeeded(*self._who)
        return super().form_valid(form)

    def form_invalid(self, form):
        throttle.failed(*self._who)
        return super().form_invalid(form)
