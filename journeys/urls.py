"""Each area's views module owns its ``urlpatterns``; they are joined here under the ``journeys`` namespace."""

import importlib
import pkgutil

from . import views

app_name = "journeys"

urlpatterns = []
for module_info in sorted(pkgutil.iter_modules(views.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"{views.__name__}.{module_info.name}")
    urlpatterns += getattr(module, "urlpatterns", [])
