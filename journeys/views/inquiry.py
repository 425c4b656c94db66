"""The public "Get in touch" page: a prospect's first step, open to anyone, no sign-in."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import client_address
from accounts.refusals import add_service_error

from ..forms.inquiry import HONEYPOT, InquiryForm
from ..services.inquiries import InquiryRateLimited, inquiry_rate_limited, inquiry_receive


def _limited(request):
    context = {
        "clinic_phone": getattr(settings, "CLINIC_PHONE", ""),
        "clinic_email": getattr(settings, "CLINIC_REPLY_TO", ""),
    }
    return render(request, "journeys/inquire_limited.html", context, status=429)


# CSRF: a clinic's own website may post its "Get in touch" form straight to this URL from another
# origin, and such a post cannot carry our CSRF token — so the token is not asked for. Nothing is lost:
# CSRF guards the authority of a visitor's session, and this view uses none (it ignores who is signed
# in, and every post does exactly what a stranger's direct post could do). What stands in its place is
# the honeypot, the per-address rate limit and the form's strict validation.
@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def inquire(request):
    if request.method == "GET":
        return render(
            request,
            "journeys/inquire.html",
            {"form": InquiryForm(initial={"ref": request.GET.get("ref", "")[:100]})},
        )
    if request.POST.get(HONEYPOT, "").strip():
        return redirect("journeys:inquire_thanks")  # a bot: it sees success, nothing is written
    address = client_address(request)
    if inquiry_rate_limited(ip_address=address):
        return _limited(request)
    form = InquiryForm(request.POST)
    if form.is_valid():
        try:
            inquiry_receive(
                data=form.inquiry_data(),
                ip_address=address,
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except InquiryRateLimited:
            return _limited(request)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return redirect("journeys:inquire_thanks")
    return render(request, "journeys/inquire.html", {"form": form})


@require_GET
def inquire_thanks(request):
    return render(request, "journeys/inquire_thanks.html")
