from .forms import OneOffMessageForm
from .selectors import patient_messages


def messages_panel_context(request, patient) -> dict:
    return {"messages": patient_messages(patient), "form": OneOffMessageForm(patient=patient)}
