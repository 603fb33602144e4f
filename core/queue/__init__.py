"""The run queue's work: start queued runs when their GPUs are free, then the steps after each.

The store (entries, order, pause, the GPU decision, the runner's lock) is
:mod:`core.train.run_queue`, on the training floor. What the queue does after a run
reaches the model stage (merge, GGUF, quantise) and the arena (a session, its answers),
so the runner (:mod:`core.queue.runner`) and its steps (:mod:`core.queue.steps`) sit on top.
"""
