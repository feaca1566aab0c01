"""Inbound mail: iMIP invitations (REQUEST, CANCEL, REPLY) emailed to a calendar's address and applied
to it.

Not built yet: the SMTP server (aiosmtpd) and the iMIP services come with the inbound-mail work. The
package is here so that the distribution's layout (``caldee_dav``, ``api``, ``inbound``) holds from
the start.
"""
