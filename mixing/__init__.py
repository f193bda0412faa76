"""Mixture optimisation: proxy-model swarms, regression over mixtures, the optimiser and its validation."""

# Every module in this package is imported, so a new stage registers itself by existing:
# drop a module with a @register_stage class here and configs can name it. The proxy trainer is
# the exception: it imports torch (about 2 s), which every CLI start would otherwise pay; it
# registers no stage and is imported where a proxy trains.
import importlib as _importlib
import pkgutil as _pkgutil

_TORCH_MODULES = {"proxy"}

for _info in _pkgutil.iter_modules(__path__):
    if not (_info.name.startswith("_") or _info.name.startswith("test") or _info.name in _TORCH_MODULES):
        _importlib.import_module(f"{__name__}.{_info.name}")
