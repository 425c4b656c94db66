"""One module per area (stages, inquiries, pipeline, visits, notes, blueprints, check-ins)."""
