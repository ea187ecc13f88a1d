"""Pure domain logic: no I/O, no clock, no ORM. Time is always a parameter."""
