"""Writes for journeys, one module per area; import the function from its module
(``from journeys.services.stages import journey_move``)."""
