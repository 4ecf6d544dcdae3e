"""Topology of a zone: model (pure), file format and DynamoDB store."""
