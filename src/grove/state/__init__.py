"""What grove records under git's common dir (`.git/grove/`): leases, adopted slots, setup
progress. Every record is read through `store`, so a damaged file is handled one way
everywhere: refused with its path and the repair, never read as empty, never overwritten."""
