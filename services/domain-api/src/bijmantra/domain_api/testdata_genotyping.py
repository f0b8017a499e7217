"""The BrAPI Test Server's Genotyping documents: plates, samples, genome maps, marker
positions and the vendor's specification (its orders are not imported: upstream's order
claims 16 samples on a plate of three, which no order here may).

Read like the Core/Germplasm sources (``testdata.SOURCES``) and written through the same
engine rules. Upstream data breaks two of those rules, and ``settle`` says so and repairs
them before the write: its three samples all sit in well A2 of plate1 (the first keeps
the well); they name observation units this import may not have created (then only the
unit's germplasm is kept, which the upstream query reads through the unit); and variant
set 4's samples give digits as rows (their wells are kept, row and column follow).
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.domain.genotyping.plates import Well, repeated_wells, sample_well

GENOTYPING = SchemaSet("BrAPI-Genotyping")


# Upstream's Java enum ordinals as the spec's constants (same constants, same order): each
# list is a query parameter, indexed by the ordinal (``testdata_sql.PARAMETERS``).
GENOTYPING_ORDINALS = {
    "plate_format": GENOTYPING.named("PlateFormat")["enum"],
    "sample_type": GENOTYPING.named("PlateNewRequest")["properties"]["sampleType"]["enum"],
}

# (entity, upstream table, query returning id and a new-request document), in write order.
GENOTYPING_SOURCES: tuple[tuple[str, str, str], ...] = (
    (
        "plate",
        "plate",
        """SELECT p.id, json_build_object('plateName', p.plate_name, 'plateBarcode',
        p.plate_barcode, 'plateFormat', (CAST(%(plate_format)s AS text[]))[p.plate_format + 1],
        'sampleType', (CAST(%(sample_type)s AS text[]))[p.sample_type + 1], 'programDbId',
            p.program_id,
        'trialDbId', p.trial_id, 'studyDbId', p.study_id) FROM plate p""",
    ),
    (
        "sample",
        "sample",
        """SELECT s.id, json_build_object('sampleName', s.sample_name, 'sampleBarcode',
        s.sample_barcode, 'sampleDescription', s.sample_description, 'sampleGroupDbId',
        s.sample_group_db_id, 'samplePUI', s.samplepui, 'sampleTimestamp',
        to_char(s.sample_timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'sampleType', s.sample_type,
            'takenBy',
        s.taken_by, 'tissueType', s.tissue_type, 'row', s.plate_row, 'column', s.plate_column,
        'well', s.well, 'observationUnitDbId', s.observation_unit_id, 'germplasmDbId',
        u.germplasm_id, 'plateDbId', s.plate_id, 'programDbId', s.program_id, 'trialDbId',
        s.trial_id, 'studyDbId', s.study_id)
        FROM sample s LEFT JOIN observation_unit u ON u.id = s.observation_unit_id""",
    ),
    (
        "map",
        "genome_map",
        """SELECT m.id, json_build_object('mapName', m.map_name, 'mapPUI', m.mappui,
        'comments', m.comments, 'documentationURL', m.documentationurl, 'publishedDate',
        to_char(m.published_date, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'scientificName',
            m.scientific_name,
        'type', m.type, 'unit', m.unit, 'commonCropName', coalesce(c.crop_name, 'Unknown'),
        'linkageGroupCount', (SELECT count(DISTINCT g.linkage_group_name) FROM marker_position mp
            JOIN linkage_group g ON g.id = mp.linkage_group_id WHERE g.genome_map_id = m.id),
        'markerCount', (SELECT count(*) FROM marker_position mp
            JOIN linkage_group g ON g.id = mp.linkage_group_id WHERE g.genome_map_id = m.id))
        FROM genome_map m LEFT JOIN crop c ON c.id = m.crop_id""",
    ),
    (
        "markerposition",
        "marker_position",
        """SELECT mp.id, json_build_object('mapDbId', g.genome_map_id, 'linkageGroupName',
        g.linkage_group_name, 'position', mp.position, 'variantDbId', mp.variant_id,
        'variantName', v.variant_name)
        FROM marker_position mp JOIN linkage_group g ON g.id = mp.linkage_group_id
        LEFT JOIN variant v ON v.id = mp.variant_id""",
    ),
    (
        "vendorspecification",
        "vendor_spec",
        """SELECT v.id, json_build_object('vendorContact', json_build_object('vendorName',
        v.vendor_name, 'vendorAddress', v.vendor_address, 'vendorCity', v.vendor_city,
        'vendorContactName', v.contact_name, 'vendorCountry', v.vendor_country,
        'vendorDescription', v.vendor_description, 'vendorEmail', v.vendor_email,
        'vendorPhone', v.vendor_phone, 'vendorURL', v.vendorurl),
        'services', (SELECT coalesce(json_agg(json_build_object('serviceId', p.id,
            'serviceName', p.platform_name, 'serviceDescription', p.platform_description,
            'servicePlatformName', p.platform_name) ORDER BY p.id), '[]')
            FROM vendor_spec_platform p WHERE p.vendor_spec_db_id = v.id))
        FROM vendor_spec v""",
    ),
)


def settle(staged: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    """Repair what upstream's samples break (see the module's docstring), saying what."""
    samples = staged.get("sample", [])
    if "observationunit" not in staged:
        for db_id, document in samples:
            if document.pop("observationUnitDbId", None) is not None:
                print(f"  {db_id}: units are not imported; keeping its germplasm", flush=True)
    misread = 0
    for _, document in samples:  # variant set 4's rows are digits; its wells are right
        stated = sample_well(document.get("row"), document.get("column"), document.get("well"))
        if stated[1] and sample_well(None, None, document.get("well"))[0] is not None:
            document.pop("row", None)
            document.pop("column", None)
            misread += 1
    if misread:
        print(f"  {misread} samples: row/column disagree with the well; kept the well", flush=True)
    placed: list[tuple[str, str, Well]] = []
    for db_id, document in samples:
        well, _ = sample_well(document.get("row"), document.get("column"), document.get("well"))
        if well is not None and document.get("plateDbId"):
            placed.append((db_id, document["plateDbId"], well))
    clashes = repeated_wells(placed)
    for db_id, document in samples:
        if db_id in clashes:
            holder, plate, well = clashes[db_id]
            print(
                f"  {db_id}: well {well.name} of {plate} is {holder}'s; left unplaced", flush=True
            )
            for key in ("row", "column", "well"):
                document.pop(key, None)
