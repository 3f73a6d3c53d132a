"""Events, derived facts, the rules engine and recommendation cards."""
