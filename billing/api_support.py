"""What every billing router shares: one transaction per request and errors as 4xx answers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.errors import BillingError, Conflict, InvalidRequest, NotFound
from billing.schemas import MAX_ID

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sessions = async_sessionmaker[AsyncSession]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]

_STATUS = {NotFound: 404, InvalidRequest: 422, Conflict: 409}


@contextlib.asynccontextmanager
async def transaction(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session whose work commits when the block ends and rolls back if it raises."""
    async with sessions() as session, session.begin():
        yield session


def status_of(error: BillingError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def install_error_handlers(app: FastAPI) -> None:
    """BillingError -> 404 / 409 / 422 with its message; a lost race on a unique key -> 409."""

    @app.exception_handler(BillingError)
    async def _billing_error(_request: Request, error: BillingError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=status_of(error))

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, _error: IntegrityError) -> JSONResponse:
        logger.warning("conflicting change on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "a concurrent change conflicted with this one; retry"}, status_code=409
        )
