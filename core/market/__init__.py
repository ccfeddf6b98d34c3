"""Market math: rounds, fees, settlement, order books: the venue's rules, exactly."""
