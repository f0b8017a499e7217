"""Material transfer agreements: types, versioned templates, the Treaty's Annex I crops,
signatures and the rule that decides whether an agreement covers a shipped item."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from bijmantra.domain.distribution.mail import PartnerMail
from bijmantra.domain.distribution.states import AgreementStatus


class AgreementType(StrEnum):
    SMTA = "smta"  # the Treaty's Standard Material Transfer Agreement
    INSTITUTIONAL = "institutional"
    RESEARCH = "research"
    COMMERCIAL = "commercial"


@dataclass(frozen=True)
class AgreementTemplate:
    """A template never changes once published: a new text is a new version."""

    type: AgreementType
    version: str
    title: str
    clauses: tuple[str, ...]


TEMPLATES: dict[tuple[AgreementType, str], AgreementTemplate] = {
    (t.type, t.version): t
    for t in (
        AgreementTemplate(
            AgreementType.SMTA,
            "2006",
            "Standard Material Transfer Agreement (ITPGRFA, Resolution 1/2006)",
            (
                "The Material is transferred under the Multilateral System of the International "
                "Treaty on Plant Genetic Resources for Food and Agriculture.",
                "The Recipient shall use the Material only for research, breeding and training "
                "for food and agriculture.",
                "The Recipient shall not claim intellectual property rights that limit access "
                "to the Material in the form received.",
                "Onward transfers are made under the terms of this Agreement.",
                "Benefits arising from commercialization are shared as set out in Article 6.7 "
                "and Annex 2.",
            ),
        ),
        AgreementTemplate(
            AgreementType.INSTITUTIONAL,
            "1",
            "Institutional Material Transfer Agreement",
            (
                "The Material is provided for use within the Recipient institution only.",
                "The Recipient acknowledges the Provider in any publication.",
            ),
        ),
        AgreementTemplate(
            AgreementType.RESEARCH,
            "1",
            "Research Material Transfer Agreement",
            (
                "The Material is provided for non-commercial research only.",
                "The Recipient shall not transfer the Material to third parties.",
                "Results are shared with the Provider on request.",
            ),
        ),
        AgreementTemplate(
            AgreementType.COMMERCIAL,
            "1",
            "Commercial Material Transfer Agreement",
            (
                "The Material may be used commercially under the fees set out in the invoice.",
                "Royalties are due as agreed between the Parties.",
            ),
        ),
    )
}


def latest_template(kind: AgreementType) -> AgreementTemplate:
    return max((t for t in TEMPLATES.values() if t.type == kind), key=lambda t: t.version)


@dataclass(frozen=True)
class Party:
    """A side of the agreement: the provider (us) or the recipient (the partner)."""

    role: str  # "provider" | "recipient"
    name: str
    email: str
    country: str


@dataclass(frozen=True)
class Signature:
    party_role: str
    signer: str
    signed_at: datetime
    document_sha256: str


@dataclass(frozen=True)
class Agreement:
    id: str
    type: AgreementType
    template_version: str
    partner_id: str
    parties: tuple[Party, ...]
    material: tuple[str, ...]  # germplasm DbIds the agreement covers
    status: AgreementStatus
    created_at: datetime
    valid_until: date | None = None
    request_id: str | None = None
    document_sha256: str | None = None  # of the text sent for signature
    signatures: tuple[Signature, ...] = ()
    activated_at: datetime | None = None
    notification: PartnerMail | None = None  # the partner's mail asking to sign (ADR 0354)

    @property
    def template(self) -> AgreementTemplate:
        return TEMPLATES[(self.type, self.template_version)]

    def unsigned_roles(self) -> list[str]:
        signed = {s.party_role for s in self.signatures}
        return [p.role for p in self.parties if p.role not in signed]

    def covers(self, germplasm_id: str, at: datetime, *, annex1: bool) -> bool:
        """Active on ``at``, lists the germplasm, and an SMTA when the crop is in Annex I."""
        return (
            self.status == AgreementStatus.ACTIVE
            and (self.valid_until is None or at.date() <= self.valid_until)
            and germplasm_id in self.material
            and (self.type == AgreementType.SMTA or not annex1)
        )


def agreement_text(agreement: Agreement) -> str:
    """The canonical text parties sign; its SHA-256 is what each signature records."""
    template = agreement.template
    lines = [template.title, f"Template {template.type.value} v{template.version}", ""]
    lines += [f"{p.role.title()}: {p.name} <{p.email}>, {p.country}" for p in agreement.parties]
    lines += ["", *(f"{i}. {c}" for i, c in enumerate(template.clauses, 1)), ""]
    lines += ["Material:", *(f"- {m}" for m in agreement.material)]
    if agreement.valid_until is not None:
        lines.append(f"Valid until {agreement.valid_until.isoformat()}")
    lines.append(f"Agreement {agreement.id}")
    return "\n".join(lines) + "\n"


def document_sha256(agreement: Agreement) -> str:
    return hashlib.sha256(agreement_text(agreement).encode()).hexdigest()


# Annex I of the Treaty: food crops and forages of the Multilateral System, by genus, with
# the species the Annex excludes or is limited to.
ANNEX1_GENERA = frozenset(
    (
        "Artocarpus",
        "Asparagus",
        "Avena",
        "Beta",
        "Brassica",
        "Armoracia",
        "Barbarea",
        "Camelina",
        "Crambe",
        "Diplotaxis",
        "Eruca",
        "Isatis",
        "Lepidium",
        "Raphanobrassica",
        "Raphanus",
        "Rorippa",
        "Sinapis",
        "Cajanus",
        "Cicer",
        "Citrus",
        "Poncirus",
        "Fortunella",
        "Cocos",
        "Colocasia",
        "Xanthosoma",
        "Daucus",
        "Dioscorea",
        "Eleusine",
        "Fragaria",
        "Helianthus",
        "Hordeum",
        "Ipomoea",
        "Lathyrus",
        "Lens",
        "Malus",
        "Manihot",
        "Musa",
        "Oryza",
        "Pennisetum",
        "Phaseolus",
        "Pisum",
        "Secale",
        "Solanum",
        "Sorghum",
        "Triticosecale",
        "Triticum",
        "Agropyron",
        "Elymus",
        "Vicia",
        "Vigna",
        "Zea",
        "Astragalus",
        "Canavalia",
        "Coronilla",
        "Hedysarum",
        "Lespedeza",
        "Lotus",
        "Lupinus",
        "Medicago",
        "Melilotus",
        "Onobrychis",
        "Ornithopus",
        "Prosopis",
        "Pueraria",
        "Trifolium",
        "Andropogon",
        "Agrostis",
        "Alopecurus",
        "Arrhenatherum",
        "Dactylis",
        "Festuca",
        "Lolium",
        "Phalaris",
        "Phleum",
        "Poa",
        "Tripsacum",
        "Atriplex",
        "Salsola",
    )
)
_ONLY = {"Manihot": {"esculenta"}, "Solanum": {"tuberosum", "melongena", "stenotomum"}}
_EXCEPT = {
    "Musa": {"textilis"},
    "Phaseolus": {"polyanthus"},
    "Zea": {"perennis", "diploperennis", "luxurians"},
    "Solanum": {"phureja"},
}
# When a germplasm has no genus, its common crop name decides.
ANNEX1_CROPS = frozenset(
    (
        "rice",
        "wheat",
        "maize",
        "barley",
        "oat",
        "rye",
        "sorghum",
        "pearl millet",
        "finger millet",
        "cassava",
        "potato",
        "sweet potato",
        "yam",
        "banana",
        "plantain",
        "bean",
        "beans",
        "pea",
        "chickpea",
        "lentil",
        "cowpea",
        "faba bean",
        "pigeon pea",
        "grass pea",
        "sunflower",
        "apple",
        "strawberry",
        "citrus",
        "coconut",
        "carrot",
        "eggplant",
        "asparagus",
        "beet",
        "brassica",
        "breadfruit",
        "triticale",
        "taro",
    )
)


def is_annex1(genus: str | None, species: str | None, crop: str | None) -> bool:
    """Whether the Treaty's Annex I lists the crop (an SMTA is then required)."""
    if genus:
        genus = genus.strip().capitalize()
        epithet = (species or "").strip().lower()
        if genus not in ANNEX1_GENERA:
            return False
        if genus in _ONLY and epithet and epithet not in _ONLY[genus]:
            return False
        return epithet not in _EXCEPT.get(genus, set())
    return crop is not None and crop.strip().lower() in ANNEX1_CROPS


def uncovered(
    items: Sequence[tuple[str, bool]], agreements: Sequence[Agreement], at: datetime
) -> list[str]:
    """Germplasm (with its Annex I flag) that no agreement covers on ``at``."""
    return [g for g, annex1 in items if not any(a.covers(g, at, annex1=annex1) for a in agreements)]
