import importlib
import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)

# Panels other parts of this app provide: (key, title, order, template, module, context function).
OPTIONAL_PANELS = [
    (
        "blueprint",
        "Care plan",
        12,
        "journeys/_blueprint_panel.html",
        "panels_blueprint",
        "blueprint_panel_context",
    ),
    ("visits", "Visits", 15, "journeys/_visits_panel.html", "panels_visits", "visits_panel_context"),
]


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "Journeys"

    def ready(self):
        from patients.panels import Panel, register_panel

        from .panels_journey import journey_panel_context, timeline_panel_context

        register_panel(
            Panel(
                key="journey",
                title="Journey",
                order=10,
                template_name="journeys/_journey_panel.html",
                context=journey_panel_context,
            )
        )
        register_panel(
            Panel(
                key="timeline",
                title="Timeline",
                order=30,
                template_name="journeys/_timeline.html",
                context=timeline_panel_context,
            )
        )
        for key, title, order, template_name, module, function in OPTIONAL_PANELS:
            try:
                context = getattr(importlib.import_module(f"{self.name}.{module}"), function)
            except (ImportError, AttributeError) as error:
                logger.warning(
                    "The %s panel is not shown: %s.%s did not load (%s).", key, module, function, error
                )
                continue
            register_panel(
                Panel(key=key, title=title, order=order, template_name=template_name, context=context)
            )
