"""Bundled demo data (hotel facts) shipped inside the package so a fresh install can answer questions."""
