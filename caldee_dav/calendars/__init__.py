"""Calendar accounts and calendar objects: users, tokens and calendars (``accounts``), CalDAV logins
(``logins``), and the one write path for calendar objects (``objects``)."""
