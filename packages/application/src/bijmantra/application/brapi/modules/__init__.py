"""BrAPI modules as declarations; a new module is one more file here and one more entry below."""

from __future__ import annotations

from bijmantra.application.brapi.entity import Catalog
from bijmantra.application.brapi.modules.console_pages import CONSOLE_PAGES
from bijmantra.application.brapi.modules.core import CORE
from bijmantra.application.brapi.modules.genotyping import GENOTYPING
from bijmantra.application.brapi.modules.germplasm import GERMPLASM_MODULE
from bijmantra.application.brapi.modules.phenotyping import PHENOTYPING

MODULES = (CORE, GERMPLASM_MODULE, PHENOTYPING, GENOTYPING, CONSOLE_PAGES)


def catalog() -> Catalog:
    return Catalog(MODULES)
