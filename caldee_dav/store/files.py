"""Plain WebDAV folders and files: the SQL behind ``caldee_dav.calendars.files``.

A folder is a ``Collection`` row without a tag (its dead properties in ``props``), a file a
``DavFile`` row in one. Trees are addressed by path: a folder and everything under it is the row at
``path`` and every row whose path starts with ``path/``. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session, undefer

from caldee_dav import clock
from caldee_dav.models import Collection, DavFile
from caldee_dav.store.collections import escape_like


def _in_tree(path: str) -> Any:
    return or_(Collection.path == path, Collection.path.like(escape_like(path) + "/%", escape="\\"))


def folders_in_tree(session: Session, path: str) -> list[Collection]:
    """The collection at ``path`` and every collection under it, parents before children."""
    return list(session.scalars(select(Collection).where(_in_tree(path)).order_by(Collection.path)))


def get_file(session: Session, collection_id: int, name: str, *, with_body: bool = False) -> DavFile | None:
    query = select(DavFile).where(DavFile.collection_id == collection_id, DavFile.name == name)
    if with_body:
        query = query.options(undefer(DavFile.body))
    return session.scalars(query).first()


def files_in(session: Session, collection_ids: Iterable[int]) -> list[DavFile]:
    """The files of these folders (without their bodies), by folder and name."""
    wanted = list(collection_ids)
    if not wanted:
        return []
    query = select(DavFile).where(DavFile.collection_id.in_(wanted))
    return list(session.scalars(query.order_by(DavFile.collection_id, DavFile.name)))


def count_in_tree(session: Session, path: str) -> int:
    """How many folders and files the tree at ``path`` holds (itself included)."""
    folder_ids = select(Collection.id).where(_in_tree(path))
    folders = session.scalar(select(func.count()).select_from(folder_ids.subquery())) or 0
    files = session.scalar(select(func.count(DavFile.id)).where(DavFile.collection_id.in_(folder_ids))) or 0
    return folders + files


def write_file(
    session: Session,
    collection_id: int,
    name: str,
    *,
    body: bytes,
    content_type: str,
    etag: str,
    properties: dict[str, str] | None = None,
) -> DavFile:
    """Create the file, or replace its body (keeping its dead properties unless new ones are given)."""
    row = get_file(session, collection_id, name)
    now = clock.now()
    if row is None:
        row = DavFile(collection_id=collection_id, name=name, created_at=now, properties={})
        session.add(row)
    row.body, row.size, row.content_type, row.etag = body, len(body), content_type, etag
    row.modified_at = now
    if properties is not None:
        row.properties = dict(properties)
    session.flush()
    return row


def set_file_properties(session: Session, row: DavFile, properties: dict[str, str]) -> None:
    row.properties = dict(properties)
    session.flush()


def set_folder_properties(session: Session, folder: Collection, properties: dict[str, str]) -> None:
    folder.props = dict(properties)
    folder.updated_at = clock.now()
    session.flush()


def delete_file(session: Session, row: DavFile) -> None:
    session.delete(row)
    session.flush()


def delete_tree(session: Session, path: str) -> None:
    """The folder at ``path``, its subfolders and all their files."""
    folder_ids = select(Collection.id).where(_in_tree(path)).scalar_subquery()
    session.execute(delete(DavFile).where(DavFile.collection_id.in_(folder_ids)))
    session.execute(
        delete(Collection).where(_in_tree(path)), execution_options={"synchronize_session": False}
    )
    session.expire_all()


def move_tree(session: Session, source: str, destination: str) -> None:
    """Renames the folder at ``source`` and everything under it to ``destination`` (files follow their
    folders by id)."""
    cut = len(source) + 1  # SQL strings count from 1
    session.execute(
        update(Collection)
        .where(_in_tree(source))
        .values(
            path=literal(destination, String()).concat(func.substr(Collection.path, cut)),
            updated_at=clock.now(),
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Collection).where(Collection.path == destination).values(slug=destination.rsplit("/", 1)[-1]),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()


def move_file(session: Session, row: DavFile, collection_id: int, name: str) -> None:
    row.collection_id, row.name, row.modified_at = collection_id, name, clock.now()
    session.flush()


def copy_files(session: Session, source_id: int, destination_id: int) -> None:
    """Every file of folder ``source_id`` copied into folder ``destination_id``, bodies and dead
    properties included."""
    now = clock.now()
    columns = [
        DavFile.name,
        DavFile.body,
        DavFile.content_type,
        DavFile.etag,
        DavFile.size,
        DavFile.properties,
    ]
    rows = session.execute(select(*columns).where(DavFile.collection_id == source_id)).all()
    for name, body, content_type, etag, size, properties in rows:
        session.add(
            DavFile(
                collection_id=destination_id,
                name=name,
                body=body,
                content_type=content_type,
                etag=etag,
                size=size,
                properties=dict(properties or {}),
                created_at=now,
                modified_at=now,
            )
        )
    session.flush()
