"""The only SQL on the calendar tables (collections, objects, occurrences, changes).

Every function takes the caller's session: the caller opens the unit of work (``db.write_unit``) and
commits it; nothing here commits. Each write bumps the collection's revision first, which takes the
collection's row lock on PostgreSQL, so writers of one collection queue and sync tokens are handed out
in commit order. The store knows neither HTTP nor DAV: property names, sync-token URIs and answers
belong to ``caldee_dav.dav``; what may be written belongs to ``caldee_dav.calendars.objects``.

    collections  create, find, delete; the revision bump that is the calendar's lock
    objects      read, write (text, occurrences, change record), delete, move
    changes      the change log behind sync
    ranges       time-range candidates and busy time through the occurrence index
    events       the REST events API's reads: an object by event id, objects with instances in a window
"""

from caldee_dav.store.changes import changes_since
from caldee_dav.store.collections import (
    CalendarHead,
    CollectionFields,
    bump_revision,
    calendar_by_public_id,
    calendar_for_writing_by_inbound_token,
    calendar_for_writing_by_public_id,
    calendar_head_by_id,
    calendar_head_by_inbound_token,
    calendar_head_by_public_id,
    calendar_spans,
    calendars_of_owner,
    child_collections,
    collection_fields,
    collection_paths,
    collection_version,
    create_collection,
    get_collection,
    get_collection_by_id,
    lock_collection,
    lock_collection_for_write,
    require_collection,
    set_collection_fields,
)
from caldee_dav.store.events import event_candidates, object_by_event_id
from caldee_dav.store.objects import (
    ObjectHead,
    ObjectText,
    all_objects,
    get_object,
    get_objects,
    object_by_uid,
    objects_at_href_or_uid,
    text_by_uid,
    texts_by_uids,
    uids_ending_with,
)
from caldee_dav.store.ranges import (
    BUSY_ALL_DAY,
    BUSY_BEYOND,
    BUSY_TIMED,
    Candidate,
    StoredText,
    busy_index_rows,
    find_in_range,
    list_objects,
    objects_by_id,
    texts_in_range,
    texts_of_component,
)

__all__ = [
    "BUSY_ALL_DAY",
    "BUSY_BEYOND",
    "BUSY_TIMED",
    "Candidate",
    "CollectionFields",
    "ObjectHead",
    "ObjectText",
    "StoredText",
    "all_objects",
    "bump_revision",
    "calendar_spans",
    "CalendarHead",
    "calendar_head_by_id",
    "calendar_head_by_inbound_token",
    "calendar_head_by_public_id",
    "calendar_by_public_id",
    "calendar_for_writing_by_inbound_token",
    "calendar_for_writing_by_public_id",
    "calendars_of_owner",
    "busy_index_rows",
    "changes_since",
    "child_collections",
    "collection_fields",
    "collection_version",
    "create_collection",
    "event_candidates",
    "find_in_range",
    "collection_paths",
    "get_collection",
    "get_collection_by_id",
    "get_object",
    "get_objects",
    "list_objects",
    "lock_collection",
    "lock_collection_for_write",
    "object_by_event_id",
    "object_by_uid",
    "text_by_uid",
    "texts_by_uids",
    "uids_ending_with",
    "objects_at_href_or_uid",
    "objects_by_id",
    "require_collection",
    "set_collection_fields",
    "texts_in_range",
    "texts_of_component",
]
