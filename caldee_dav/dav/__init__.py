"""The CalDAV edge: Radicale configured on our plugins, and the fast path in front of it.

    app         the WSGI app mounted at /dav: request guards, then the fast path, then Radicale
    storage     Radicale's storage plugin: units of work, discovery, collection writes
    collection  Radicale's collection interface over the store and the write service
    meta        Radicale's collection properties <-> the store's typed fields
    sync_tokens the sync-token URI format
    auth        Radicale's auth plugin (CalDAV logins)
    fast/       the requests clients send most, answered straight from the store

DAV vocabulary (property names, sync-token URIs, HTTP headers) lives here and nowhere below.
"""
