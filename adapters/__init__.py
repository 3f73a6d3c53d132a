"""Input adapters: turn outside data (journals, Strava, Garmin files) into events."""
