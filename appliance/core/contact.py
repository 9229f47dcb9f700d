"""E-mail addresses and phone numbers people type: checked by libraries made for it.

A hand-written pattern accepted `a@b.cn<script>…</script>` and
`javascript:alert(1)//@x.cn`; email-validator applies RFC 5322/6531 (internationalised
addresses such as 张三@例子.中国 included) and phonenumbers (libphonenumber's data)
knows which lengths a number can have in each country. Neither looks anything up on
the network.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_DEFAULT_REGION = "CN"  # numbers typed without +country are mainland numbers
# Characters a person uses when writing a number: digits and the usual separators.
_PHONE_CHARS = re.compile(r"^\+?[0-9][0-9 ().\-]{4,30}$")


def normal_email(value: str) -> str | None:
    """Return the address in its normal form, or None if it is not a valid address."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def normal_phone(value: str) -> str | None:
    """Return the number as typed (trimmed), or None if it cannot be a phone number."""
    value = value.strip()
    if not _PHONE_CHARS.match(value):
        return None
    try:
        number = phonenumbers.parse(value, _DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    # Possible (a length some number in that country has) and 7+ digits: a local
    # landline without its area code is still accepted, "12345" is not. Validity by
    # number range would refuse ranges newer than the library's data.
    if (number.national_number or 0) < 10**6 or not phonenumbers.is_possible_number(number):
        return None
    return value
