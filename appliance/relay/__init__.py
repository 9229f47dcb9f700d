"""The box's side of the relay: enrolment, tunnel, TLS for visitors, staff devices."""
