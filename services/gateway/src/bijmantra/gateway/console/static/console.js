// Bijmantra console: progressive enhancement only; every page reads without this file.
"use strict";
