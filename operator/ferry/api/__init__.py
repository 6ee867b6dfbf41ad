"""Typed models of the ModelDeployment API (spec, status) and parsing of raw objects."""
