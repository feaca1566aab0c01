"""Inbound mail: iMIP invitations (REQUEST, CANCEL, REPLY) emailed to a calendar's address and applied
to it (RFC 6047).

    mime      the calendars in a message (any MIME structure, charsets, transfer encodings; bounded)
    method    their iTIP method (the body's METHOD wins over the MIME parameter)
    reader    a message as the domain needs it: sender, Message-ID, calendars, or why it is ignored
    pipeline  one message applied to each calendar it is addressed to, one transaction per calendar
    smtp      the aiosmtpd server (``caledee inbound``)

Applying (iTIP merge, trust, the log) is the domain's: ``caldee_dav.scheduling.inbound_mail`` with
the pure ``caldee_dav.ical.itip``.
"""
