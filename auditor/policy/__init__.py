"""Policies: claims files, the shipped claim sets, claim verdicts, the ISO/IEC 27001:2022
Annex A catalogue, and the extractor that drafts a claims file from a policy's text."""
