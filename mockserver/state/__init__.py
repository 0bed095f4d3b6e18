"""What a world holds and how it is built: the store, runs, worlds, the journal, the fixture world."""
