"""Every state change of a slot: allocate, create, adopt, hand over, reset, release, remove,
switch, and its database's provisioning and reset.

The discipline, in one place:
- a slot's lock (`locks.slot`) is held for the whole of any change to that slot;
- the grove lock (`locks.grove`) is held briefly, for decisions other processes share
  (is the slot free, who holds it, is it still registered, the adopted-slot registry);
- a slot's lock may be taken before the grove lock, never while waiting under it: a
  process that holds the grove lock only *tries* a slot's lock, and a slot whose lock is
  busy is busy;
- every decision another process could have invalidated is taken again under the lock.
Commands call these functions and render what they return.
"""
