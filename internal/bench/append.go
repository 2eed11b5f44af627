package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// AppendOptions shape an append run.
type AppendOptions struct {
	// Duration stops the run after this long (0: when the workload is
	// exhausted).
	Duration time.Duration
	// Rate is the target entries per second for all clients together
	// (0: as fast as the registry answers).
	Rate float64
	// PID is the server's process ID, for CPU and memory figures (0: none).
	PID int
}

// AppendResult is the outcome of an append run.
type AppendResult struct {
	Clients  int           `json:"clients"`
	Accepted int           `json:"accepted"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed"`
	Rate     float64       `json:"entriesPerSecond"`
	Target   float64       `json:"targetRate,omitempty"`
	// Ack is the latency from sending an entry to its acknowledgement
	// (durably sequenced); Proof from sending to the first checkpoint that
	// covers it (a verifiable inclusion proof exists).
	Ack          Percentiles `json:"ack"`
	Proof        Percentiles `json:"proof"`
	ServerCPU    float64     `json:"serverCpuCores,omitempty"`
	ClientCPU    float64     `json:"clientCpuCores"`
	ServerRSS    int64       `json:"serverPeakRssBytes,omitempty"`
	ErrorSamples []string    `json:"errorSamples,omitempty"`
	Checkpoints  int         `json:"checkpoints"`
}

type seenCheckpoint struct {
	size uint64
	at   time.Time
}

// checkpointWatcher polls /log/checkpoint and records when each size was
// first seen.
func checkpointWatcher(ctx context.Context, base string, hc *http.Client) (func() []seenCheckpoint, func()) {
	var mu sync.Mutex
	var seen []seenCheckpoint
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := uint64(0)
		for ctx.Err() == nil {
			st, b, err := get(ctx, hc, base+"/log/checkpoint")
			now := time.Now()
			if err == nil && st == http.StatusOK {
				if lines := bytes.SplitN(b, []byte("\n"), 3); len(lines) == 3 {
					if n, err := strconv.ParseUint(string(lines[1]), 10, 64); err == nil && n > last {
						last = n
						mu.Lock()
						seen = append(seen, seenCheckpoint{n, now})
						mu.Unlock()
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() []seenCheckpoint {
			mu.Lock()
			defer mu.Unlock()
			return append([]seenCheckpoint(nil), seen...)
		}, func() {
			cancel()
			<-done
		}
}

type sent struct {
	index    uint64
	start    time.Time
	ackAfter time.Duration
}

// RunAppend sends the workload's streams, one client per stream.
func RunAppend(ctx context.Context, base string, hc *http.Client, w *Workload, o AppendOptions) (*AppendResult, error) {
	clients := len(w.Streams)
	res := &AppendResult{Clients: clients, Target: o.Rate}
	seen, stopWatch := checkpointWatcher(ctx, base, hc)
	var before ProcStats
	if o.PID > 0 {
		before, _ = ReadProc(o.PID)
	}
	self, _ := ReadProc(os.Getpid())
	var mu sync.Mutex
	var acks []sent
	var errs atomic.Int64
	var samples []string
	runCtx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c, stream := range w.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []sent
			interval := time.Duration(0)
			if o.Rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(clients) / o.Rate)
			}
			next := start.Add(time.Duration(c) * interval / time.Duration(clients))
			for _, it := range stream {
				if runCtx.Err() != nil {
					break
				}
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				st, body, err := post(runCtx, hc, base+"/api/v1/entries", it.Body)
				if runCtx.Err() != nil && err != nil {
					break
				}
				if err != nil || st != http.StatusCreated {
					errs.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, fmt.Sprintf("%s: %d %v %.200s", it.Kind, st, err, body))
					}
					mu.Unlock()
					continue
				}
				var r struct {
					Index uint64 `json:"index"`
				}
				json.Unmarshal(body, &r)
				local = append(local, sent{index: r.Index, start: t0, ackAfter: time.Since(t0)})
			}
			mu.Lock()
			acks = append(acks, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if me, err := ReadProc(os.Getpid()); err == nil {
		res.ClientCPU = float64(me.CPU-self.CPU) / float64(res.Elapsed)
	}
	if o.PID > 0 {
		after, _ := ReadProc(o.PID)
		res.ServerCPU = float64(after.CPU-before.CPU) / float64(res.Elapsed)
		res.ServerRSS = after.PeakRSS
	}
	// Wait for the last entries to be integrated, then stop watching.
	maxIdx := uint64(0)
	for _, a := range acks {
		maxIdx = max(maxIdx, a.index)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := seen()
		if len(s) > 0 && s[len(s)-1].size > maxIdx {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopWatch()
	cps := seen()
	res.Checkpoints = len(cps)
	res.Accepted, res.Errors, res.ErrorSamples = len(acks), int(errs.Load()), samples
	res.Rate = float64(len(acks)) / res.Elapsed.Seconds()
	ack := make([]time.Duration, 0, len(acks))
	proof := make([]time.Duration, 0, len(acks))
	for _, a := range acks {
		ack = append(ack, a.ackAfter)
		i := sort.Search(len(cps), func(i int) bool { return cps[i].size > a.index })
		if i < len(cps) {
			proof = append(proof, max(cps[i].at.Sub(a.start), a.ackAfter))
		}
	}
	res.Ack, res.Proof = Summarise(ack), Summarise(proof)
	return res, nil
}
