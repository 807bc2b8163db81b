"""Microsoft Teams: the only package that imports botbuilder (GUIDE §7)."""
