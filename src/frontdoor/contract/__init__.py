"""The production contract: four kinds of YAML document, loaded, validated and cross-checked."""

from frontdoor.contract.load import Contract, LoadResult, load_contract

__all__ = ["Contract", "LoadResult", "load_contract"]
