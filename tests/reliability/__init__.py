"""The fault suite: scenarios on real processes (a package: its module names never clash with other folders')."""
