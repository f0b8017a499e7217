"""The BrAPI Test Server's tables read as BrAPI new-request documents, one query an entity.

Upstream stores Java enums as ordinals and additionalInfo as Java-serialized values; the
queries and ``java_value`` below turn them into what the spec names.
"""

from __future__ import annotations

from dataclasses import dataclass

from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.domain_api.testdata_genotyping import GENOTYPING_ORDINALS, GENOTYPING_SOURCES

SOURCE = "brapi-test-server"
CORE, GERMPLASM = SchemaSet("BrAPI-Core"), SchemaSet("BrAPI-Germplasm")


def _enum(schemas: SchemaSet, schema: str, *path: str) -> list[str]:
    node = schemas.named(schema)
    for step in path:
        node = node["items"] if step == "*" else node["properties"][step]
    constants: list[str] = node["enum"]
    return constants


# Upstream stores Java enums as ordinals; the spec lists the same constants in the same order.
ORDINALS = {
    "program_type": _enum(CORE, "ProgramNewRequest", "programType"),
    "list_type": _enum(CORE, "ListNewRequest", "listType"),
    "sampstat": _enum(GERMPLASM, "GermplasmNewRequest", "biologicalStatusOfAccessionCode"),
    "cross_type": _enum(GERMPLASM, "CrossNewRequest", "crossType"),
    "cross_status": _enum(GERMPLASM, "PlannedCrossNewRequest", "status"),
    "parent_type": _enum(GERMPLASM, "PedigreeNode", "parents", "*", "parentType"),
    "data_type": _enum(GERMPLASM, "GermplasmAttributeNewRequest", "scale", "dataType"),
}


# Every query's parameters: the spec's constants an upstream ordinal indexes
# (``(CAST(%(kind)s AS text[]))[ordinal + 1]``) and this import's reference source.
PARAMETERS = {**ORDINALS, **GENOTYPING_ORDINALS, "source": SOURCE}


# A cross (planned or made) with its parents in order, as ``parents.of_cross`` (a JSON array).
# Without the parents' observation units: units are not imported, and a cross may name only
# units of its organization (ADR 0335).
CROSSES_WITH_PARENTS = """FROM cross_entity c CROSS JOIN LATERAL (SELECT json_agg(json_build_object(
    'germplasmDbId', p.germplasm_id,
    'parentType', (CAST(%(parent_type)s AS text[]))[p.parent_type + 1]) ORDER BY p.id)
    AS of_cross FROM cross_parent p WHERE p.cross_id = c.id) parents"""


@dataclass(frozen=True)
class Source:
    """One entity: the upstream table (for additionalInfo/externalReferences) and its query."""

    entity: str
    table: str
    query: str  # SELECT id, json document


SOURCES = (
    Source(
        "person",
        "person",
        """SELECT id, json_build_object('firstName', first_name, 'lastName', last_name,
        'middleName', middle_name, 'emailAddress', email_address, 'mailingAddress', mailing_address,
        'phoneNumber', phone_number, 'userID', userid, 'description', description) FROM person""",
    ),
    Source(
        "program",
        "program",
        """SELECT p.id, json_build_object('programName', p.name, 'abbreviation',
        p.abbreviation, 'objective', p.objective, 'documentationURL', p.documentationurl,
            'programType',
        (CAST(%(program_type)s AS text[]))[p.program_type + 1], 'commonCropName', c.crop_name,
            'leadPersonDbId',
        p.lead_person_id, 'fundingInformation', p.funding_information)
        FROM program p LEFT JOIN crop c ON c.id = p.crop_id""",
    ),
    Source(
        "location",
        "location",
        """SELECT l.id, json_build_object('locationName', l.location_name,
        'abbreviation', l.abbreviation, 'countryCode', l.country_code, 'countryName',
            l.country_name,
        'instituteName', l.institute_name, 'instituteAddress', l.institute_address, 'locationType',
        l.location_type, 'environmentType', l.environment_type, 'exposure', l.exposure,
            'siteStatus',
        l.site_status, 'slope', l.slope, 'topography', l.topography, 'coordinateDescription',
        l.coordinate_description, 'coordinateUncertainty', l.coordinate_uncertainty,
            'documentationURL',
        l.documentationurl, 'parentLocationDbId', l.parent_location_id,
        'coordinates', (SELECT json_build_object('type', 'Feature', 'geometry',
            json_build_object('type', g.type,
            'coordinates', CASE WHEN g.type = 'Point' THEN (SELECT json_build_array(co.longitude,
                co.latitude,
                co.altitude) FROM coordinate co WHERE co.geojson_id = g.id ORDER BY co.id LIMIT 1)
            ELSE json_build_array((SELECT json_agg(json_build_array(co.longitude, co.latitude,
                co.altitude)
                ORDER BY co.id) FROM coordinate co WHERE co.geojson_id = g.id)) END))
            FROM geojson g WHERE g.id = l.coordinates_id))
        FROM location l ORDER BY l.parent_location_id NULLS FIRST""",
    ),
    Source(
        "trial",
        "trial",
        """SELECT t.id, json_build_object('trialName', t.trial_name, 'trialDescription',
        t.trial_description, 'trialPUI', t.trialpui, 'active', t.active, 'startDate',
            to_char(t.start_date, 'YYYY-MM-DD'),
        'endDate', to_char(t.end_date, 'YYYY-MM-DD'), 'programDbId', t.program_id, 'commonCropName',
            c.crop_name,
        'documentationURL', t.documentationurl)
        FROM trial t LEFT JOIN crop c ON c.id = t.crop_id""",
    ),
    Source(
        "season",
        "season",
        "SELECT id, json_build_object('seasonName', season, 'year', year) FROM season",
    ),
    Source(
        "study",
        "study",
        """SELECT s.id, json_build_object('studyName', s.study_name, 'studyCode',
        s.study_code, 'studyDescription', s.study_description, 'studyPUI', s.studypui,
            'studyType', s.study_type,
        'active', s.active, 'startDate', to_char(s.start_date, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            'endDate',
            to_char(s.end_date, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'license', s.license, 'culturalPractices', s.cultural_practices,
            'observationUnitsDescription',
        s.observation_units_description, 'trialDbId', s.trial_id, 'locationDbId', s.location_id,
        'commonCropName', c.crop_name, 'documentationURL', s.documentationurl,
        'seasons', (SELECT json_agg(ss.season_db_id ORDER BY ss.season_db_id) FROM study_season ss
                    WHERE ss.study_db_id = s.id))
        FROM study s LEFT JOIN crop c ON c.id = s.crop_id""",
    ),
    Source(
        "list",
        "list",
        """SELECT l.id, json_build_object('listName', l.list_name, 'listDescription',
        l.description, 'listOwnerName', l.list_owner_name, 'listSource', l.list_source, 'listType',
        (CAST(%(list_type)s AS text[]))[l.list_type + 1], 'listOwnerPersonDbId',
            l.list_owner_person_id,
        'dateCreated', to_char(l.date_created, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'dateModified',
            to_char(l.date_modified, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'data', (SELECT coalesce(json_agg(i.item ORDER BY i.id),
            '[]') FROM list_item i WHERE i.list_id = l.id))
        FROM list l""",
    ),
    Source(
        "breedingmethod",
        "breeding_method",
        """SELECT id, json_build_object('breedingMethodName', name,
        'abbreviation', abbreviation, 'description', description) FROM breeding_method""",
    ),
    Source(
        "germplasm",
        "germplasm",
        """SELECT g.id, json_build_object('germplasmName', coalesce(g.germplasm_name,
        g.id), 'germplasmPUI', coalesce(g.germplasmpui, CAST(%(source)s AS text) || ':' || g.id),
            'commonCropName',
        coalesce(c.crop_name, 'Unknown'), 'accessionNumber', g.accession_number, 'acquisitionDate',
        to_char(g.acquisition_date, 'YYYY-MM-DD'), 'biologicalStatusOfAccessionCode',
        (CAST(%(sampstat)s AS text[]))[g.biological_status_of_accession_code + 1], 'collection',
            g.collection,
        'countryOfOriginCode', g.country_of_origin_code, 'defaultDisplayName',
            g.default_display_name,
        'documentationURL', g.documentationurl, 'genus', g.genus, 'germplasmPreprocessing',
        g.germplasm_preprocessing, 'seedSource', g.seed_source, 'seedSourceDescription',
        g.seed_source_description, 'species', g.species, 'speciesAuthority', g.species_authority,
        'subtaxa', g.subtaxa, 'subtaxaAuthority', g.subtaxa_authority, 'breedingMethodDbId',
            g.breeding_method_id,
        'synonyms', (SELECT json_agg(json_build_object('synonym', s.synonym, 'type', s.type))
                     FROM germplasm_synonym s WHERE s.germplasm_id = g.id),
        'donors', (SELECT json_agg(json_build_object('donorAccessionNumber',
            d.donor_accession_number,
                   'donorInstituteCode', d.donor_institute_code))
                   FROM germplasm_donor d WHERE d.germplasm_id = g.id))
        FROM germplasm g LEFT JOIN crop c ON c.id = g.crop_id""",
    ),
    Source(
        "attribute",
        "variable_base_entity",
        """SELECT a.id, json_build_object('attributeName', a.name,
        'attributeCategory', a.attribute_category, 'attributeDescription', a.description,
            'attributePUI', a.pui,
        'commonCropName', c.crop_name, 'status', a.status, 'scientist', a.scientist,
            'institution', a.institution,
        'language', a.language, 'growthStage', a.growth_stage, 'defaultValue', a.default_value,
        'documentationURL', a.documentationurl, 'submissionTimestamp',
            to_char(a.submission_timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'trait', (SELECT json_build_object('traitDbId', t.id, 'traitName', coalesce(t.trait_name,
            t.id),
                  'traitClass', t.trait_class, 'traitDescription', t.trait_description,
                      'traitPUI', t.traitpui,
                  'attribute', t.attribute, 'entity', t.entity, 'mainAbbreviation',
                      t.main_abbreviation,
                  'status', t.status) FROM trait t WHERE t.id = a.trait_id),
        'method', (SELECT json_build_object('methodDbId', m.id, 'methodName', coalesce(m.name,
            m.id),
                   'description', m.description, 'formula', m.formula, 'methodClass',
                       m.method_class,
                   'methodPUI', m.methodpui, 'bibliographicalReference', m.reference)
                   FROM method m WHERE m.id = a.method_id),
        'scale', (SELECT json_build_object('scaleDbId', sc.id, 'scaleName',
            coalesce(sc.scale_name, sc.id),
                  'scalePUI', sc.scalepui, 'units', sc.units, 'decimalPlaces', sc.decimal_places,
                  'dataType',
            (CAST(%(data_type)s AS text[]))[sc.data_type + 1]) FROM scale sc WHERE sc.id =
            a.scale_id))
        FROM germplasm_attribute_definition a LEFT JOIN crop c ON c.id = a.crop_id""",
    ),
    Source(
        "attributevalue",
        "germplasm_attribute_value",
        """SELECT v.id, json_build_object('attributeDbId',
        v.attribute_id, 'attributeName', coalesce(a.name, v.attribute_id), 'germplasmDbId',
            v.germplasm_id,
        'value', v.value, 'determinedDate', to_char(v.determined_date,
            'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        FROM germplasm_attribute_value v
        LEFT JOIN germplasm_attribute_definition a ON a.id = v.attribute_id""",
    ),
    Source(
        "crossingproject",
        "crossing_project",
        """SELECT id, json_build_object('crossingProjectName', name,
        'crossingProjectDescription', description, 'programDbId',
            program_id) FROM crossing_project""",
    ),
    Source(
        "plannedcross",
        "cross_entity",
        """SELECT c.id, json_build_object('plannedCrossName', c.name,
        'crossType', (CAST(%(cross_type)s AS text[]))[c.cross_type + 1],
        'status', (CAST(%(cross_status)s AS text[]))[c.status + 1],
        'crossingProjectDbId', c.crossing_project_id,
        'parent1', parents.of_cross->0, 'parent2', parents.of_cross->1) """
        + CROSSES_WITH_PARENTS
        + " WHERE c.planned",
    ),
    Source(
        "cross",
        "cross_entity",
        """SELECT c.id, json_build_object('crossName', c.name,
        'crossType', (CAST(%(cross_type)s AS text[]))[c.cross_type + 1],
        'crossingProjectDbId', c.crossing_project_id, 'plannedCrossDbId', c.planned_cross_id,
        'parent1', parents.of_cross->0, 'parent2', parents.of_cross->1) """
        + CROSSES_WITH_PARENTS
        + " WHERE NOT c.planned",
    ),
    # The ledger is replayed below, so each lot starts at its final amount minus its net intake.
    Source(
        "seedlot",
        "seed_lot",
        """SELECT s.id, json_build_object('seedLotName', s.name, 'seedLotDescription',
        s.description, 'amount', s.amount
            - coalesce((SELECT sum(t.amount) FROM seed_lot_transaction t
                        WHERE t.to_seed_lot_id = s.id), 0)
            + coalesce((SELECT sum(t.amount) FROM seed_lot_transaction t
                        WHERE t.from_seed_lot_id = s.id), 0),
        'units', s.units, 'storageLocation', s.storage_location, 'sourceCollection',
        s.source_collection, 'createdDate', to_char(s.created_date, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'lastUpdated', to_char(s.last_updated, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'locationDbId', s.location_id, 'programDbId', s.program_id,
        'contentMixture', (SELECT json_agg(json_build_object('germplasmDbId', m.germplasm_id,
            'crossDbId',
            m.cross_id, 'mixturePercentage', m.mixture_percentage) ORDER BY m.id)
            FROM seed_lot_content_mixture m WHERE m.seed_lot_id = s.id)) FROM seed_lot s""",
    ),
    Source(
        "referenceset",
        "reference_set",
        """SELECT r.id, json_build_object('referenceSetName', r.reference_set_name,
        'assemblyPUI', r.assemblypui, 'description', r.description, 'isDerived', r.is_derived,
        'md5checksum', r.md5checksum, 'sourceURI', r.sourceuri,
        'species', json_build_object('term', r.species_ontology_term,
            'termURI', r.species_ontology_termuri),
        'sourceGermplasm', (SELECT json_agg(json_build_object('germplasmDbId', g.id,
            'germplasmName', g.germplasm_name))
            FROM germplasm g WHERE g.id = r.source_germplasm_id))
        FROM reference_set r ORDER BY r.id""",
    ),
    Source(
        "reference",
        "reference",
        """SELECT r.id, json_build_object('referenceName', r.reference_name, 'length', r.length,
        'md5checksum', r.md5checksum, 'sourceDivergence', r.source_divergence,
        'referenceSetDbId', r.reference_set_id)
        FROM reference r ORDER BY r.id""",
    ),
    Source(
        "seedlottransaction",
        "seed_lot_transaction",
        """SELECT t.id, json_build_object('amount', t.amount,
        'units', t.units, 'transactionDescription', t.description, 'transactionTimestamp',
        to_char(t."timestamp", 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'fromSeedLotDbId',
            t.from_seed_lot_id, 'toSeedLotDbId',
            t.to_seed_lot_id)
        FROM seed_lot_transaction t ORDER BY t."timestamp", t.id""",
    ),
    *(Source(entity, table, query) for entity, table, query in GENOTYPING_SOURCES),
)


# Pedigree nodes are upserted by germplasm (PUT /pedigree), parents first.
PEDIGREE = """SELECT n.germplasm_id, json_build_object('germplasmDbId', n.germplasm_id,
    'germplasmName',
    coalesce(g.germplasm_name, n.germplasm_id), 'crossingYear', n.crossing_year, 'familyCode',
        n.family_code,
    'pedigreeString', n.pedigree_string, 'crossingProjectDbId', n.crossing_project_id,
    'parents', (SELECT coalesce(json_agg(json_build_object('germplasmDbId', p.germplasm_id,
        'parentType',
                (CAST(%(parent_type)s AS text[]))[e.parent_type + 1]) ORDER BY e.id), '[]')
                FROM pedigree_edge e JOIN pedigree_node p ON p.id = e.connceted_node_id
                WHERE e.this_node_id = n.id AND e.edge_type = 0))
    FROM pedigree_node n LEFT JOIN germplasm g ON g.id = n.germplasm_id
    WHERE n.germplasm_id IS NOT NULL"""


def java_value(raw: bytes) -> str | None:
    """A Java-serialized String/Boolean/Integer's value (upstream's additionalInfo storage)."""
    if raw[4:5] == b"\x74":  # TC_STRING
        return raw[7:].decode("utf-8", "replace")
    if b"java.lang.Boolean" in raw:
        return "true" if raw[-1] else "false"
    if b"java.lang.Integer" in raw:
        return str(int.from_bytes(raw[-4:], "big", signed=True))
    return None
