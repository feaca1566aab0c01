"""Plain WebDAV folders and files under a user's principal: what may be written, and by whom.

Next to calendars and address books (``alice/work``), a user may keep plain folders (``alice/docs``)
holding files of any kind and more folders, as any WebDAV server allows. Only the owner reads or
writes under a principal. A file lives in a folder, never directly in the principal; a folder never
holds a calendar. Paths here have no leading or trailing slash: ``alice/docs/notes.txt``.

Dead properties are kept as given: their Clark name (``{ns}name``) and the XML of their element.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars import accounts
from caldee_dav.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from caldee_dav.models import Collection, DavFile
from caldee_dav.store import files as file_store

MAX_NAME = 255
MAX_PATH = 1024  # collections.path
# The most resources one listing, copy or move walks: bounds the work of one request.
MAX_TREE = 10_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class TopKind(Enum):
    """What a principal's direct child is, which tells which part of the server answers under it."""

    MISSING = "missing"
    FOLDER = "folder"  # a plain folder: everything under it is answered here
    OTHER = "other"  # a calendar or an address book: Radicale's


class NotAFolder(Conflict):
    """The parent of a new resource is missing or is not a folder (WebDAV's 409)."""


class NotAllowedHere(AlreadyExists):
    """A folder made where something already is (WebDAV's 405)."""


@dataclass(frozen=True)
class Resource:
    path: str
    is_folder: bool
    size: int = 0
    content_type: str | None = None
    etag: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)


def top_kind(session: Session, path: str) -> TopKind:
    """What the principal's child that ``path`` lies in is (``path`` has two segments or more)."""
    top = "/".join(path.split("/")[:2])
    collection = store.get_collection(session, top)
    if collection is None:
        return TopKind.MISSING
    return TopKind.FOLDER if not collection.tag else TopKind.OTHER


def file_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


# --- reads --------------------------------------------------------------------------------------


def find(session: Session, user: str, path: str) -> Resource | None:
    _check_owner(user, path)
    folder = _folder(session, path)
    if folder is not None:
        return _folder_resource(folder)
    located = _file(session, path)
    return _file_resource(located[0], located[1]) if located else None


def listing(session: Session, user: str, path: str, depth: int | None) -> list[Resource]:
    """The resource at ``path`` and its members ``depth`` levels down (None: all), parents first."""
    _check_owner(user, path)
    folder = _folder(session, path)
    if folder is None:
        located = _file(session, path)
        if located is None:
            raise NotFound(f"{path} does not exist")
        return [_file_resource(located[0], located[1])]
    if depth == 0:
        return [_folder_resource(folder)]
    if depth is None and file_store.count_in_tree(session, path) > MAX_TREE:
        raise Forbidden(f"{path} holds more than {MAX_TREE} resources: list it level by level")
    if depth == 1:
        folders = [folder, *store.child_collections(session, path)]
    else:
        folders = file_store.folders_in_tree(session, path)
    paths = {f.id: f.path for f in folders}
    level = {f.id: f.path.count("/") - path.count("/") for f in folders}
    holders = [f for f in folders if depth is None or level[f.id] < depth]
    members: dict[int, list[Resource]] = {}
    for row in file_store.files_in(session, [f.id for f in holders]):
        members.setdefault(row.collection_id, []).append(_file_resource(paths[row.collection_id], row))
    resources = []
    for row in folders:
        resources.append(_folder_resource(row))
        resources.extend(members.get(row.id, []))
    return resources


def read_file(session: Session, user: str, path: str) -> tuple[Resource, bytes]:
    _check_owner(user, path)
    parent_path, _, name = path.rpartition("/")
    parent = _folder(session, parent_path)
    row = file_store.get_file(session, parent.id, name, with_body=True) if parent is not None else None
    if row is None:
        raise NotFound(f"{path} is not a file")
    return _file_resource(parent_path, row), row.body


# --- writes -------------------------------------------------------------------------------------


def make_folder(session: Session, user: str, path: str) -> None:
    _check_owner(user, path)
    _check_path(path)
    parent = _parent_for_new(session, path)
    if store.get_collection(session, path) is not None or _file(session, path) is not None:
        raise NotAllowedHere(f"{path} already exists")
    store.create_collection(session, path, owner_id=parent.owner_id)


def put_file(
    session: Session,
    user: str,
    path: str,
    body: bytes,
    content_type: str | None,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
) -> tuple[Resource, bool]:
    """Creates or replaces the file; (the file, whether it is new)."""
    _check_owner(user, path)
    _check_path(path)
    if store.get_collection(session, path) is not None:
        raise NotAllowedHere(f"{path} is a folder")
    if path.count("/") < 2:
        raise Forbidden("files are kept in folders, not directly in the principal")
    parent = _parent_for_new(session, path)
    name = path.rpartition("/")[2]
    existing = file_store.get_file(session, parent.id, name)
    current = existing.etag if existing is not None else None
    if (if_none_match == "*" and current is not None) or (
        if_match is not None and if_match not in ("*", current)
    ):
        raise PreconditionFailed(path, if_match, current)
    if if_match == "*" and current is None:
        raise PreconditionFailed(path, if_match, None)
    row = file_store.write_file(
        session,
        parent.id,
        name,
        body=body,
        content_type=content_type or DEFAULT_CONTENT_TYPE,
        etag=file_etag(body),
    )
    return _file_resource(parent.path, row), existing is None


def delete(session: Session, user: str, path: str, *, if_match: str | None = None) -> None:
    _check_owner(user, path)
    folder = _folder(session, path)
    if folder is not None:
        if folder.path.count("/") < 1:
            raise Forbidden("a principal is not deleted this way")
        store.lock_collection(session, folder.id)
        file_store.delete_tree(session, path)
        return
    located = _file(session, path)
    if located is None:
        raise NotFound(f"{path} does not exist")
    row = located[1]
    if if_match is not None and if_match not in ("*", row.etag):
        raise PreconditionFailed(path, if_match, row.etag)
    file_store.delete_file(session, row)


def copy(
    session: Session, user: str, source: str, destination: str, *, overwrite: bool, recursive: bool = True
) -> bool:
    """Copies the file or folder (with its members when ``recursive``); whether ``destination`` is new."""
    return _transfer(session, user, source, destination, overwrite=overwrite, recursive=recursive, move=False)


def move(session: Session, user: str, source: str, destination: str, *, overwrite: bool) -> bool:
    """Moves the file or folder with everything in it; whether ``destination`` is new."""
    return _transfer(session, user, source, destination, overwrite=overwrite, recursive=True, move=True)


def update_properties(session: Session, user: str, path: str, changes: list[tuple[str, str | None]]) -> None:
    """Sets (XML of the element) or removes (None) dead properties, in the order given."""
    _check_owner(user, path)
    folder = _folder(session, path)
    located = None if folder is not None else _file(session, path)
    if folder is not None:
        properties = dict(folder.props or {})
    elif located is not None:
        properties = dict(located[1].properties or {})
    else:
        raise NotFound(f"{path} does not exist")
    for name, value in changes:
        if value is None:
            properties.pop(name, None)
        else:
            properties[name] = value
    if folder is not None:
        file_store.set_folder_properties(session, folder, properties)
    elif located is not None:
        file_store.set_file_properties(session, located[1], properties)


# --- helpers ------------------------------------------------------------------------------------


def _transfer(
    session: Session,
    user: str,
    source: str,
    destination: str,
    *,
    overwrite: bool,
    recursive: bool,
    move: bool,
) -> bool:
    _check_owner(user, source)
    _check_owner(user, destination)
    _check_path(destination)
    if source == destination:
        raise Forbidden("the source and the destination are the same")
    if destination.startswith(source + "/") or source.startswith(destination + "/"):
        raise Forbidden("a folder cannot be copied or moved into itself or over a folder holding it")
    if top_kind(session, destination) is TopKind.OTHER:
        raise Forbidden(f"{destination} is in a calendar or an address book, which hold no plain files")
    folder = _folder(session, source)
    located = None if folder is not None else _file(session, source)
    if folder is None and located is None:
        raise NotFound(f"{source} does not exist")
    if folder is not None and folder.path.count("/") < 1:
        raise Forbidden("a principal is not copied or moved")
    if folder is None and destination.count("/") < 2:
        raise Forbidden("files are kept in folders, not directly in the principal")
    if folder is not None and file_store.count_in_tree(session, source) > MAX_TREE:
        raise Forbidden(f"{source} holds more than {MAX_TREE} resources")
    parent = _parent_for_new(session, destination)
    replaced = _folder(session, destination) is not None or _file(session, destination) is not None
    if replaced and not overwrite:
        raise PreconditionFailed(destination, None, "exists")
    if replaced:
        delete(session, user, destination)
    name = destination.rpartition("/")[2]
    if folder is not None:
        if move:
            file_store.move_tree(session, source, destination)
        else:
            _copy_folder(session, folder, destination, parent.owner_id, recursive)
    elif move:
        file_store.move_file(session, located[1], parent.id, name)  # type: ignore[index]
    else:
        row = located[1]  # type: ignore[index]
        body = file_store.get_file(session, row.collection_id, row.name, with_body=True).body  # type: ignore[union-attr]
        file_store.write_file(
            session,
            parent.id,
            name,
            body=body,
            content_type=row.content_type,
            etag=row.etag,
            properties=dict(row.properties or {}),
        )
    return not replaced


def _copy_folder(
    session: Session, folder: Collection, destination: str, owner_id: str | None, recursive: bool
) -> None:
    sources = file_store.folders_in_tree(session, folder.path) if recursive else [folder]
    for source in sources:
        path = destination + source.path[len(folder.path) :]
        copied = store.create_collection(session, path, owner_id=owner_id)
        file_store.set_folder_properties(session, copied, dict(source.props or {}))
        if recursive:
            file_store.copy_files(session, source.id, copied.id)


def _check_owner(user: str, path: str) -> None:
    if not user or path.split("/", 1)[0] != user:
        raise Forbidden(f"only {path.split('/', 1)[0]} writes or reads under /{path.split('/', 1)[0]}/")


def _check_path(path: str) -> None:
    if len(path) > MAX_PATH or any(len(part) > MAX_NAME for part in path.split("/")):
        raise InvalidInput(f"names are at most {MAX_NAME} characters and paths at most {MAX_PATH}")


def _folder(session: Session, path: str) -> Collection | None:
    collection = store.get_collection(session, path)
    return collection if collection is not None and not collection.tag else None


def _file(session: Session, path: str) -> tuple[str, DavFile] | None:
    parent_path, _, name = path.rpartition("/")
    if parent_path.count("/") < 1:
        return None  # no file lives directly in a principal
    parent = _folder(session, parent_path)
    row = file_store.get_file(session, parent.id, name) if parent is not None else None
    return (parent_path, row) if row is not None else None


def _parent_for_new(session: Session, path: str) -> Collection:
    """The folder a new ``path`` goes into, locked until the transaction ends (the principal, created
    when missing, for a folder directly under it)."""
    parent_path = path.rpartition("/")[0]
    parent = store.get_collection(session, parent_path) if parent_path else None
    if parent is None and parent_path and "/" not in parent_path:
        owner_id = accounts.user_id_by_slug(session, parent_path)
        if owner_id is not None:
            parent = store.create_collection(session, parent_path, owner_id=owner_id)
    if parent is None or parent.tag:
        raise NotAFolder(f"{parent_path or '/'} is not a folder")
    store.lock_collection(session, parent.id)
    return parent


def _folder_resource(row: Collection) -> Resource:
    return Resource(
        path=row.path,
        is_folder=True,
        created=row.created_at,
        modified=row.updated_at,
        properties={k: str(v) for k, v in (row.props or {}).items()},
    )


def _file_resource(parent_path: str, row: DavFile) -> Resource:
    return Resource(
        path=f"{parent_path}/{row.name}",
        is_folder=False,
        size=row.size,
        content_type=row.content_type,
        etag=row.etag,
        created=row.created_at,
        modified=row.modified_at,
        properties=dict(row.properties or {}),
    )
