"""The Dagster layer: thin assets over ``pipeline``, plus checks, jobs, schedules and ``Definitions``."""
