"""Pieces every page shares: components, figures, montages, messages, words, glossary."""
