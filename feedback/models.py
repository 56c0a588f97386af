"""Ratings, corrections and dataset exports arrive with the feedback issue."""
