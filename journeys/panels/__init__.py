"""The journeys panels of the patient page, one module per area: plain context functions that
``dashboard.views.patient_detail`` calls, in its order. Each runs a fixed number of queries."""
