"""Running a round on real feeds: the round runner, its live wiring and its recovery."""
