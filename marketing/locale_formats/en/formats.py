# The one date and time format of the product, also for the admin and the bare ``date`` filter.
# Kept in step with marketing/timefmt.py, which formats the same way in Python.
DATE_FORMAT = "D j M Y"
DATETIME_FORMAT = "D j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "D j M Y, H:i"
TIME_FORMAT = "H:i"
FIRST_DAY_OF_WEEK = 1  # Monday, as the calendar
