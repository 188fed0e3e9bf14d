"""The one error type labkit raises for things a learner can fix: the message says what and how."""


class LabError(Exception):
    """A problem with the lab's settings, state or machine, worded as one actionable line."""
