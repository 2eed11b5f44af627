package logcore

// QueueDepth returns the number of submissions waiting for the sequencer
// (not counting the batch it is working on), for metrics.
func (l *Log[T]) QueueDepth() int { return len(l.queue) }
