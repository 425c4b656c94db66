from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def checkin_answer(request, token):
    """The patient's check-in page arrives with the Compliance issue; until then, a kind holding page."""
    return render(request, "compliance/checkin_coming.html", status=200)
