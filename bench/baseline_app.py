"""The baseline: the shape of the backend Bijmantra replaces, for same-run comparison.

One process: FastAPI + pydantic response models + SQLAlchemy ORM (async, psycopg), a
shared-secret HS256 JWT check per request, tenant filtering in application code.
Started by ``bench/run.py`` with ``DATABASE_URL``, ``BASELINE_SECRET`` and ``BASELINE_TENANT``.
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Date, String, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ENGINE = create_async_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1), pool_size=20
)
Session = async_sessionmaker(ENGINE, expire_on_commit=False)
SECRET = OctKey.import_key(os.environ["BASELINE_SECRET"].encode())


class Base(DeclarativeBase):
    pass


class GermplasmRow(Base):
    __tablename__ = "germplasm"
    __table_args__ = {"schema": "baseline"}
    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    germplasm_db_id: Mapped[str] = mapped_column(String, primary_key=True)
    germplasm_name: Mapped[str]
    germplasm_pui: Mapped[str]
    common_crop_name: Mapped[str]
    accession_number: Mapped[str | None]
    acquisition_date: Mapped[date | None] = mapped_column(Date)
    genus: Mapped[str | None]
    species: Mapped[str | None]
    collection: Mapped[str | None]
    pedigree: Mapped[str | None]
    synonyms: Mapped[Any] = mapped_column(JSON)
    external_references: Mapped[Any] = mapped_column(JSON)
    additional_info: Mapped[Any] = mapped_column(JSON)
    donors: Mapped[Any] = mapped_column(JSON)


class Germplasm(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)
    germplasmDbId: str = Field(validation_alias="germplasm_db_id")
    germplasmName: str = Field(validation_alias="germplasm_name")
    germplasmPUI: str = Field(validation_alias="germplasm_pui")
    commonCropName: str = Field(validation_alias="common_crop_name")
    accessionNumber: str | None = Field(None, validation_alias="accession_number")
    acquisitionDate: date | None = Field(None, validation_alias="acquisition_date")
    genus: str | None = None
    species: str | None = None
    collection: str | None = None
    pedigree: str | None = None
    synonyms: list[dict[str, Any]] = []
    externalReferences: list[dict[str, Any]] = Field([], validation_alias="external_references")
    additionalInfo: dict[str, Any] = Field({}, validation_alias="additional_info")
    donors: list[dict[str, Any]] = []


class Pagination(BaseModel):
    currentPage: int
    pageSize: int
    totalCount: int
    totalPages: int


class Metadata(BaseModel):
    datafiles: list[Any] = []
    pagination: Pagination | None = None
    status: list[dict[str, str]] = []


class ListResult(BaseModel):
    data: list[Germplasm]


class ListResponse(BaseModel):
    metadata: Metadata
    result: ListResult


class SingleResponse(BaseModel):
    metadata: Metadata
    result: Germplasm


app = FastAPI()


def tenant(authorization: str = Header("")) -> uuid.UUID:
    try:
        claims = jwt.decode(
            authorization.removeprefix("Bearer "), SECRET, algorithms=["HS256"]
        ).claims
        return uuid.UUID(claims["tid"])
    except Exception as exc:
        raise HTTPException(401, "unauthorized") from exc


@app.get("/brapi/v2/germplasm/{db_id}", response_model=SingleResponse)
async def get_one(db_id: str, tid: Annotated[uuid.UUID, Depends(tenant)]) -> SingleResponse:
    async with Session() as session:
        row = await session.get(GermplasmRow, (tid, db_id))
    if row is None:
        raise HTTPException(404, "not found")
    return SingleResponse(metadata=Metadata(), result=Germplasm.model_validate(row))


@app.get("/brapi/v2/germplasm", response_model=ListResponse)
async def list_all(
    tid: Annotated[uuid.UUID, Depends(tenant)],
    page: int = Query(0, ge=0),
    pageSize: int = Query(1000, ge=1),
) -> ListResponse:
    async with Session() as session:
        total = await session.scalar(
            select(func.count()).select_from(GermplasmRow).where(GermplasmRow.tenant_id == tid)
        )
        rows = (
            await session.scalars(
                select(GermplasmRow)
                .where(GermplasmRow.tenant_id == tid)
                .order_by(GermplasmRow.germplasm_db_id)
                .offset(page * pageSize)
                .limit(pageSize)
            )
        ).all()
    pagination = Pagination(
        currentPage=page,
        pageSize=pageSize,
        totalCount=total or 0,
        totalPages=-(-(total or 0) // pageSize),
    )
    return ListResponse(
        metadata=Metadata(pagination=pagination),
        result=ListResult(data=[Germplasm.model_validate(r) for r in rows]),
    )
