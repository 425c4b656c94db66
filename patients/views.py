from django.shortcuts import render

from alliance_crm.accounts.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
def patient_list(request):
    return render(request, "patients/patient_list.html")
