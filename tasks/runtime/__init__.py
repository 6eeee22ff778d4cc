"""The training runtime: backend and hardware knobs, the feed, the array cache, resume state,
and the one trainer assembly that the train stage and every benchmark use."""
