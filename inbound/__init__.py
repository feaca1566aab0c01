"""Inbound mail: iMIP invitations (REQUEST, CANCEL, REPLY) emailed to a calendar's address and applied
to it.

Built so far, all pure (no server, no database): ``mime`` finds the calendars in a message, ``method``
decides their iTIP method, ``zones`` maps the TZIDs mail clients write to IANA. Still to come: the SMTP
server (aiosmtpd) and applying REQUEST/CANCEL/REPLY through the calendar write service.
"""
