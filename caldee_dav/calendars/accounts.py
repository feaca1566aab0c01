"""Users, API tokens and calendars: the domain service behind the CLI, Radicale auth and REST auth."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from caldee_dav import clock, store
from caldee_dav.calendars.objects import SUPPORTED_COMPONENTS
from caldee_dav.errors import AlreadyExists, Conflict, Field, Forbidden, InvalidInput, NotFound, Problem
from caldee_dav.models import ApiToken, Collection, User
from caldee_dav.zones import zone_named

TOKEN_PREFIX = "pat_"
TOKEN_BYTES = 32
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
# A user's slug is the first segment of their booking pages (/{slug}/{eventSlug}): it must not be one
# of the server's own top-level paths, or that user's pages (or the server's) would be unreachable.
RESERVED_USER_SLUGS = frozenset(
    {"api", "dav", "feeds", "inbound", "health", "booking", "static", "well-known", "openapi", "admin"}
)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Scopes of the REST contract plus the ones scheduling adds; a token created without --scope gets all.
ALL_SCOPES = (
    "read:profile",
    "read:event-types",
    "write:event-types",
    "read:availability",
    "read:bookings",
    "write:bookings",
    "read:schedules",
    "write:schedules",
    "read:teams",
    "write:teams",
    "read:leads",
    "write:leads",
    "read:contacts",
    "read:calendars",
    "write:calendars",
    "manage:api-keys",
    "read:webhooks",
    "write:webhooks",
    "caldav",  # CalDAV login with the token as an app password
)


@dataclass(frozen=True)
class IssuedToken:
    """A token as created: ``secret`` is shown once and never stored."""

    id: str
    secret: str
    name: str
    scopes: list[str]
    expires_at: datetime | None


def check_timezone(name: str) -> str:
    if zone_named(name) is None:
        raise InvalidInput(f"unknown time zone {name!r}")
    return name


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63] or "calendar"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- users ------------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    email: str,
    slug: str,
    password: str | None = None,
    timezone: str = "UTC",
    display_name: str | None = None,
) -> User:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise InvalidInput(f"{email!r} is not an email address")
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput(f"slug {slug!r} must be lowercase letters, digits and dashes (at most 63)")
    if slug in RESERVED_USER_SLUGS:
        raise InvalidInput(f"slug {slug!r} is reserved for the server's own pages; choose another")
    check_timezone(timezone)
    if session.scalar(select(User).where(User.slug == slug)):
        raise AlreadyExists(f"a user with slug {slug!r} already exists")
    if session.scalar(select(User).where(User.email == email)):
        raise AlreadyExists(f"a user with email {email!r} already exists")
    user = User(
        email=email,
        slug=slug,
        timezone=timezone,
        display_name=display_name,
        password_hash=generate_password_hash(password) if password else None,
    )
    session.add(user)
    session.flush()
    store.create_collection(session, slug, owner_id=user.id)
    return user


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def user_id_by_slug(session: Session, slug: str) -> str | None:
    return session.scalar(select(User.id).where(User.slug == slug))


def find_user(session: Session, login: str) -> User | None:
    """A user by slug or email (case-insensitive email)."""
    login = login.strip()
    query = select(User).where((User.slug == login) | (User.email == login.lower()))
    return session.scalars(query).first()


def require_user(session: Session, login: str) -> User:
    user = find_user(session, login)
    if user is None:
        raise NotFound(f"no user {login!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.slug)))


def set_password(session: Session, user: User, password: str) -> None:
    """Replace ``user``'s password (a server may still accept the old one for the 30 s it remembers a
    login, see ``calendars.logins``)."""
    if not password:
        raise InvalidInput("the password is empty")
    if password != password.strip():
        raise InvalidInput("the password starts or ends with white space")
    user.password_hash = generate_password_hash(password)


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash or "", password)


# --- tokens -----------------------------------------------------------------------------------


# A token lives at most a hundred years; "no expiry" is None. (A larger number overflowed the date.)
MAX_TOKEN_DAYS = 36_500


def create_token(
    session: Session,
    user: User,
    *,
    name: str = "",
    scopes: list[str] | None = None,
    expires_days: int | None = None,
) -> IssuedToken:
    chosen = list(scopes) if scopes else list(ALL_SCOPES)
    unknown = sorted(set(chosen) - set(ALL_SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_SCOPES)}")
    if expires_days is not None and not 0 < expires_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"expiry must be between 1 and {MAX_TOKEN_DAYS} days (or none, for no expiry)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = clock.now() + timedelta(days=expires_days) if expires_days else None
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        display_prefix=secret[:8],
        scopes=chosen,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token.id, secret, name, chosen, expires_at)


@dataclass(frozen=True)
class TokenSummary:
    """What may be shown of a token: everything but its secret."""

    id: str
    user_slug: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    # The secret's first characters (``pat_`` and four more): enough to tell keys apart, not to guess one.
    display_prefix: str = ""

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= clock.now():
            return "expired"
        return "active"


def _summary(token: ApiToken, slug: str) -> TokenSummary:
    return TokenSummary(
        token.id,
        slug,
        token.name,
        list(token.scopes or ()),
        token.created_at,
        token.expires_at,
        token.last_used_at,
        token.revoked_at,
        token.display_prefix,
    )


def list_tokens(
    session: Session, user: User | None = None, *, include_inactive: bool = False
) -> list[TokenSummary]:
    """Tokens (of ``user``, or everyone's), oldest first; revoked and expired ones too with
    ``include_inactive``."""
    query = select(ApiToken, User.slug).join(User, ApiToken.user_id == User.id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    if not include_inactive:
        query = query.where(*_live_token(clock.now()))
    rows = session.execute(query.order_by(User.slug, ApiToken.created_at, ApiToken.id))
    return [_summary(token, slug) for token, slug in rows]


def revoke_token(session: Session, token_id: str) -> bool:
    """Revoke a token by its id; False when it was already revoked. It stops working at once: logins
    check tokens on every request."""
    token = session.get(ApiToken, token_id.strip())
    if token is None:
        raise NotFound(f"no token {token_id!r} (see `caledee token list --all`)")
    if token.revoked_at is not None:
        return False
    token.revoked_at = clock.now()
    return True


def revoke_tokens_named(session: Session, user: User, name: str) -> int:
    """Revoke ``user``'s live tokens called ``name``; how many were."""
    live = _live_token(clock.now())
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == name, *live)
    tokens = list(session.scalars(query))
    for token in tokens:
        token.revoked_at = clock.now()
    return len(tokens)


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The live token for ``secret`` (not revoked, not expired), or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    query = select(ApiToken).where(ApiToken.token_hash == hash_token(secret), *_live_token(clock.now()))
    return session.scalars(query).first()


def _live_token(now: Any) -> tuple[ColumnElement[bool], ...]:
    """A token that is neither revoked nor expired at ``now`` (a value or a bound parameter)."""
    return ApiToken.revoked_at.is_(None), ApiToken.expires_at.is_(None) | (ApiToken.expires_at > now)


TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def token_needs_touch(token: ApiToken) -> bool:
    """Whether this use should be recorded: at most once a minute, so that most requests checking a
    token only read."""
    return token.last_used_at is None or clock.now() - token.last_used_at > TOKEN_TOUCH_INTERVAL


def touch_token(token: ApiToken) -> None:
    """Record use, at most once a minute, so reads do not turn every request into a write."""
    if token_needs_touch(token):
        token.last_used_at = clock.now()


def touch_token_id(session: Session, token_id: str) -> None:
    """``touch_token`` for a token read in an earlier (read-only) unit of work."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        touch_token(token)


# --- API keys over REST (a user's own tokens, minted with a token) ----------------------------------

# Live keys one user may hold at once (POST /api-keys beyond it: 409), and keys one list shows.
MAX_LIVE_KEYS = 100
MAX_LISTED_KEYS = 500
KEY_NAME_LENGTH = 200


def issue_api_key(
    session: Session,
    caller_token_id: str,
    *,
    name: str,
    scopes: list[str] | None,
    expires_days: int | None,
) -> IssuedToken:
    """A new token for the owner of ``caller_token_id``, minted with that token.

    A key never holds more than the token that mints it: scopes it lacks are refused (Forbidden), none
    given means all of its scopes; and it never outlives it: a minting token that expires gives its
    expiry to a key asked without one, and refuses a later one. So a short-lived or narrow token cannot
    turn itself into a lasting or wider one.
    """
    caller = session.get(ApiToken, caller_token_id)
    if caller is None or caller.revoked_at is not None:
        raise NotFound(f"no token {caller_token_id!r}")
    held = list(caller.scopes or ())
    chosen = held if scopes is None else list(dict.fromkeys(scopes))
    _check_key_input(name, chosen, held, expires_days)
    expires_at = clock.now() + timedelta(days=expires_days) if expires_days else None
    if caller.expires_at is not None:
        if expires_at is not None and expires_at > caller.expires_at:
            raise InvalidInput.about(
                [Problem(("expires_in_days",), _outlives(caller.expires_at), "outlives_token")]
            )
        expires_at = expires_at or caller.expires_at
    live = _live_token(clock.now())
    live_keys = session.scalar(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == caller.user_id, *live)
    )
    if (live_keys or 0) >= MAX_LIVE_KEYS:
        raise Conflict(f"{MAX_LIVE_KEYS} keys are live already; revoke one before creating another")
    issued = create_token(session, caller.user, name=name.strip(), scopes=chosen)
    token = session.get(ApiToken, issued.id)
    assert token is not None
    token.expires_at = expires_at
    return IssuedToken(issued.id, issued.secret, issued.name, issued.scopes, expires_at)


def _outlives(expires_at: datetime) -> str:
    return f"must not outlive the token that creates the key (it expires at {expires_at.isoformat()})"


def _check_key_input(name: str, chosen: list[str], held: list[str], expires_days: int | None) -> None:
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem(("name",), "must not be empty", "required"))
    elif len(name.strip()) > KEY_NAME_LENGTH:
        problems.append(Problem(("name",), f"must be at most {KEY_NAME_LENGTH} characters", "too_long"))
    if not chosen:
        problems.append(Problem(("scopes",), "must name at least one scope", "required"))
    for index, scope in enumerate(chosen):
        if scope not in ALL_SCOPES:
            message = f"unknown scope {scope!r}; known: {', '.join(ALL_SCOPES)}"
            problems.append(Problem(("scopes", index), message, "unknown_scope"))
    if expires_days is not None and not 0 < expires_days <= MAX_TOKEN_DAYS:
        message = f"must be between 1 and {MAX_TOKEN_DAYS} days (or null: no expiry)"
        problems.append(Problem(("expires_in_days",), message, "out_of_range"))
    if problems:
        raise InvalidInput.about(problems)
    beyond = [(index, scope) for index, scope in enumerate(chosen) if scope not in held]
    if beyond:
        refused = [
            Problem(("scopes", index), f"{scope!r} is not held by the token creating the key", "not_held")
            for index, scope in beyond
        ]
        scopes = ", ".join(scope for _, scope in beyond)
        raise Forbidden(
            ("A key cannot have scopes its creator lacks: ", Field("scopes"), f" {scopes}"),
            problems=refused,
        )


def list_api_keys(session: Session, caller_token_id: str) -> list[TokenSummary]:
    """The keys of the owner of ``caller_token_id``, newest first, revoked and expired ones too (the
    ``MAX_LISTED_KEYS`` newest)."""
    owner = session.scalar(select(ApiToken.user_id).where(ApiToken.id == caller_token_id))
    query = (
        select(ApiToken, User.slug)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.user_id == owner)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(MAX_LISTED_KEYS)
    )
    return [_summary(token, slug) for token, slug in session.execute(query)]


def revoke_api_key(session: Session, caller_token_id: str, key_id: str) -> None:
    """Revoke one of the caller's own keys (the calling one too); again is no error. Anyone else's key
    is the same NotFound as no key, so ids cannot be probed. Refused by every process from the next
    request on: tokens are looked up on each."""
    owner = session.scalar(select(ApiToken.user_id).where(ApiToken.id == caller_token_id))
    # Ids are short and plain; anything else (a NUL, which PostgreSQL refuses in text) is no key.
    token = session.get(ApiToken, key_id) if key_id.isprintable() and len(key_id) <= 40 else None
    if token is None or owner is None or token.user_id != owner:
        raise NotFound(f"no API key {key_id!r}")
    if token.revoked_at is None:
        token.revoked_at = clock.now()


def caldav_login(session: Session, login: str, password: str) -> str | None:
    """The slug of the user a CalDAV login names, when the password is theirs or is one of their API
    tokens (holding the ``caldav`` scope) used as an app password."""
    if password.startswith(TOKEN_PREFIX):
        return caldav_token_owner(session, login, password)
    user = find_user(session, login)
    return user.slug if user is not None and check_password(user, password) else None


CALDAV_SCOPE = "caldav"


def caldav_token_owner(session: Session, login: str, secret: str) -> str | None:
    """The slug of ``login`` when ``secret`` is one of that user's live tokens with the ``caldav``
    scope. One query (a CalDAV client sends its token with every request)."""
    row = _token_owner(session, login, secret)
    if row is None or CALDAV_SCOPE not in (row.scopes or ()):
        return None
    return row.slug


def caldav_token_lacks_scope(session: Session, login: str, secret: str) -> bool:
    """Whether ``secret`` is one of ``login``'s live tokens but without the ``caldav`` scope: the login
    is refused, and the user is better told why than asked for credentials again."""
    if not secret.startswith(TOKEN_PREFIX):
        return False
    row = _token_owner(session, login, secret)
    return row is not None and CALDAV_SCOPE not in (row.scopes or ())


def _token_owner(session: Session, login: str, secret: str) -> Row[Any] | None:
    login = login.strip()
    params = {"token_hash": hash_token(secret), "slug": login, "email": login.lower(), "now": clock.now()}
    return session.execute(_TOKEN_OWNER, params).first()


# Built once: SQLAlchemy memoizes a statement's cache key, and this one runs on every CalDAV request.
_TOKEN_OWNER = (
    select(User.slug, ApiToken.scopes)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        (User.slug == bindparam("slug")) | (User.email == bindparam("email")),
        *_live_token(bindparam("now")),
    )
)


# --- calendars --------------------------------------------------------------------------------


def create_calendar(
    session: Session,
    user: User,
    *,
    name: str,
    slug: str | None = None,
    color: str | None = None,
    timezone: str | None = None,
    description: str | None = None,
) -> Collection:
    if not name.strip():
        raise InvalidInput("a calendar needs a name")
    slug = slug or slugify(name)
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput(f"calendar slug {slug!r} must be lowercase letters, digits and dashes")
    if timezone:
        check_timezone(timezone)
    if store.get_collection(session, user.slug) is None:
        store.create_collection(session, user.slug, owner_id=user.id)
    path = f"{user.slug}/{slug}"
    if store.get_collection(session, path) is not None:
        raise AlreadyExists(f"{user.slug} already has a calendar {slug!r}")
    fields = store.CollectionFields(
        tag="VCALENDAR",
        display_name=name,
        color=color or None,
        description=description or None,
        props={SUPPORTED_COMPONENTS: "VEVENT,VTODO"},
    )
    calendar = store.create_collection(session, path, owner_id=user.id, fields=fields)
    calendar.timezone = timezone or user.timezone
    return calendar


def user_calendars(session: Session, user: User) -> list[Collection]:
    return store.calendars_of_owner(session, user.id)


def owned_calendar(session: Session, owner_id: str, calendar_id: str) -> Collection:
    """The calendar with REST id ``calendar_id`` when ``owner_id`` owns it. Anyone else's calendar is
    the same NotFound as no calendar at all, so ids of others' calendars cannot be probed."""
    calendar = store.calendar_by_public_id(session, calendar_id)
    if calendar is None or calendar.owner_id != owner_id:
        raise NotFound(f"no calendar {calendar_id!r}")
    return calendar


def inbound_address(calendar: Collection, mail_domain: str) -> str:
    """The address that receives invitations for ``calendar``: ``cal-<id>@<mail_domain>``, the id
    without its ``cal_`` prefix (as the peer CalDave shapes it)."""
    return f"cal-{calendar.public_id.removeprefix('cal_')}@{mail_domain}"
