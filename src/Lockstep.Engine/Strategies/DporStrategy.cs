using System.Numerics;

namespace Lockstep.Engine;

/// <summary>
/// Exhaustive stateless exploration with dynamic partial-order reduction: source sets and sleep sets
/// (Abdulla, Aronis, Jonsson, Sagonas, "Optimal dynamic partial order reduction", POPL'14, Algorithm 1).
/// Happens-before is tracked with vector clocks. A race whose later event is a blocking operation that was not yet
/// enabled when the earlier event ran (a lock acquisition after the holder's release) is reversed at the latest
/// earlier conflicting event where it was enabled (the holder's acquisition). With a preemption bound, schedules
/// needing more preemptions are skipped and the result is no longer exhaustive.
/// </summary>
public sealed class DporStrategy : IStrategy
{
    private const int S = SimThread.MaxThreads;

    /// <summary>In place of an object id: a step that conflicts with every operation (one that stopped the execution).</summary>
    private const int AnyObject = -2;

    private readonly int? _preemptionBound;

    // Per position of the current schedule.
    private byte[] _chosen = new byte[256];
    private uint[] _enabled = new uint[256];
    private uint[] _backtrack = new uint[256];
    private uint[] _sleep = new uint[256];
    private uint[] _stoppers = new uint[256];   // threads whose step here stopped an execution: woken by any next event
    private int[] _objId = new int[256];
    private AccessKind[] _kind = new AccessKind[256];
    private int[] _local = new int[256];
    private int[] _preemptions = new int[256];
    private int[] _clock = new int[256 * S];
    private int[] _prefix = new int[256 * S];

    // Per thread and per object of the current execution.
    private readonly int[] _threadClock = new int[S * S];
    private readonly int[] _threadEvents = new int[S];
    private readonly int[] _scratch = new int[S];
    private readonly List<List<int>> _history = new();
    private int _threads;
    private Execution? _execution;   // the one running

    private int _depth;
    private int _replayPoint = -1;
    private bool _started;
    private bool _done;
    private bool _boundHit;

    public DporStrategy(int? preemptionBound = null) => _preemptionBound = preemptionBound;

    public string Description => _preemptionBound is { } b ? $"dpor(preemption bound {b})" : "dpor";

    public bool NeedsValueHistory => true;

    public bool Exhaustive => _done && !_boundHit;

    /// <summary>Executions abandoned because every runnable thread was asleep (redundant by construction).</summary>
    public long SleepBlocked { get; private set; }

    public bool BeginExecution()
    {
        if (_started && _done) return false;
        _started = true;
        _depth = 0;
        _threads = 0;
        _execution = null;
        Array.Clear(_threadEvents);
        foreach (var h in _history) h.Clear();
        return true;
    }

    public void OnThreadCreated(int parent, int child)
    {
        _threads = Math.Max(_threads, child + 1);
        for (var t = 0; t < _threads; t++) _threadClock[t * S + child] = 0;   // nobody has seen the new thread yet
        var c = _threadClock.AsSpan(child * S, S);
        if (parent < 0) c.Clear();
        else _threadClock.AsSpan(parent * S, S).CopyTo(c);
        _threadEvents[child] = 0;
        // Rows below only copy the live threads' entries: positions recorded before this thread existed have not seen it.
        for (var i = 0; i < _depth; i++)
        {
            _clock[i * S + child] = 0;
            _prefix[i * S + child] = 0;
        }
    }

    public int Choose(in SchedulingState state)
    {
        var n = _depth;
        EnsureCapacity(n + 1);
        _enabled[n] = state.Enabled;
        var threads = state.Threads;
        _execution = state.Execution;
        _threadEvents.AsSpan(0, _threads).CopyTo(_prefix.AsSpan(n * S, _threads));

        int tid;
        if (n <= _replayPoint)
        {
            tid = _chosen[n];
            if ((state.Enabled & (1u << tid)) == 0)
                throw new InvalidOperationException(
                    $"the model is not deterministic: replaying step {n}, thread {tid} cannot run (all state must be created inside the model)");
        }
        else
        {
            _sleep[n] = n == 0 ? 0 : SleepAfter(n - 1, threads);
            _stoppers[n] = 0;
            var candidates = state.Enabled & ~_sleep[n];
            if (candidates == 0)
            {
                SleepBlocked++;
                return -1;
            }
            tid = state.LastRan >= 0 && (candidates & (1u << state.LastRan)) != 0
                ? state.LastRan
                : BitOperations.TrailingZeroCount(candidates);
            _chosen[n] = (byte)tid;
            _backtrack[n] = 1u << tid;
        }
        _preemptions[n] = (n == 0 ? 0 : _preemptions[n - 1]) + (IsPreemption(n, tid) ? 1 : 0);
        RecordEvent(n, tid, threads[tid], analyze: n >= _replayPoint);
        _depth = n + 1;
        return tid;
    }

    public void EndExecution(ExecutionEnd end)
    {
        if (end != ExecutionEnd.Pruned && _execution != null) AnalyzePending(end);
        for (var i = _depth - 1; i >= 0; i--)
        {
            _sleep[i] |= 1u << _chosen[i];
            var candidates = _backtrack[i] & _enabled[i] & ~_sleep[i];
            if (candidates != 0)
            {
                _chosen[i] = (byte)BitOperations.TrailingZeroCount(candidates);
                _replayPoint = i;
                return;
            }
        }
        _done = true;
    }

    private bool IsPreemption(int n, int tid)
        => n > 0 && tid != _chosen[n - 1] && (_enabled[n] & (1u << _chosen[n - 1])) != 0;

    /// <summary>
    /// The sleep set after position i: sleepers whose next operation is independent of the event at i. Called at i + 1,
    /// when every sleeper (it did not run at i) still has the operation it had at i pending.
    /// </summary>
    private uint SleepAfter(int i, IReadOnlyList<SimThread> threads)
    {
        var po = _objId[i];
        var pk = _kind[i];
        uint result = 0;
        for (var mask = _sleep[i] & ~_stoppers[i]; mask != 0; mask &= mask - 1)
        {
            var r = BitOperations.TrailingZeroCount(mask);
            var sleeper = threads[r];
            var independent = po < 0 || sleeper.PendingObject?.Id != po || !pk.ConflictsWith(sleeper.PendingKind);
            if (independent) result |= 1u << r;
        }
        return result;
    }

    private void RecordEvent(int n, int q, SimThread thread, bool analyze)
    {
        var obj = thread.PendingObject;
        var kind = thread.PendingKind;
        var local = ++_threadEvents[q];
        var clock = _clock.AsSpan(n * S, _threads);
        _threadClock.AsSpan(q * S, _threads).CopyTo(clock);
        clock[q] = local;
        _chosen[n] = (byte)q;
        _local[n] = local;
        _kind[n] = kind;
        _objId[n] = obj?.Id ?? -1;

        if (obj != null && kind != AccessKind.None)
        {
            var history = History(obj.Id);
            for (var k = history.Count - 1; k >= 0; k--)
            {
                var j = history[k];
                if (!_kind[j].ConflictsWith(kind)) continue;
                Join(clock, _clock.AsSpan(j * S, _threads));
                if (_kind[j].Writes()) break;   // everything earlier happens before this write
            }
            if (analyze) AnalyzeRaces(n, q, obj, kind, thread.PendingGuard);
            history.Add(n);
        }
        clock.CopyTo(_threadClock.AsSpan(q * S, _threads));
    }

    /// <summary>
    /// The races of q's operation as the event at position n (executed there, or still pending when the execution
    /// ended at n): each earlier conflicting event that does not happen before it gets a backtrack point. A guarded
    /// operation is reversed only where its guard held.
    /// </summary>
    private void AnalyzeRaces(int n, int q, SimObject obj, AccessKind kind, object? guard)
    {
        var history = History(obj.Id);
        var covered = _scratch.AsSpan(0, _threads);
        _threadClock.AsSpan(q * S, _threads).CopyTo(covered);   // q's clock before this event
        for (var k = history.Count - 1; k >= 0; k--)
        {
            var j = history[k];
            var kj = _kind[j];
            if (!kj.ConflictsWith(kind)) continue;
            if (_local[j] > covered[_chosen[j]])
            {
                if (guard != null && !obj.GuardHeldBefore(k, guard))
                    continue;   // could not have run before e_j: look further back
                AddBacktrack(j, n, q, obj.Id, kind);
                Join(covered, _clock.AsSpan(j * S, _threads));
            }
            if (kj.Writes()) break;   // everything earlier happens before this write
        }
    }

    /// <summary>
    /// The operations still pending when the execution ended (a waiter blocked to the end, a thread a violation
    /// stopped) never ran, but each could have run earlier, where it conflicts with what did: race them as the
    /// next event. (The thread a violation stopped inside its step may still show the operation it ran; racing that
    /// again only repeats races already found.) A violation that stops the execution in a step conflicts with every
    /// operation that could have run before that step: it decides whether that operation runs at all.
    /// </summary>
    private void AnalyzePending(ExecutionEnd end)
    {
        var threads = _execution!.Threads;
        for (var q = 0; q < _threads; q++)
        {
            var thread = threads[q];
            if (thread.IsFinished || thread.PendingObject is not { } obj || thread.PendingKind == AccessKind.None) continue;
            AnalyzeRaces(_depth, q, obj, thread.PendingKind, thread.PendingGuard);
        }
        var violations = _execution.Violations;
        if (end != ExecutionEnd.Stopped || _depth == 0 || violations[^1].Kind == "livelock") return;   // the step bound stopped it, not a step
        var last = _depth - 1;
        var stopper = _chosen[last];
        _stoppers[last] |= 1u << stopper;
        for (var q = 0; q < _threads; q++)
        {
            var thread = threads[q];
            if (q == stopper || !thread.IsEnabled || _local[last] <= _threadClock[q * S + stopper]) continue;
            AddBacktrack(last, _depth, q, AnyObject, thread.PendingKind);
        }
        // and with every earlier step of another thread that does not happen before it: the latest of each thread
        var covered = _scratch.AsSpan(0, _threads);
        _clock.AsSpan(last * S, _threads).CopyTo(covered);
        uint seen = 1u << stopper;
        for (var j = last - 1; j >= 0; j--)
        {
            var p = _chosen[j];
            if ((seen & (1u << p)) != 0) continue;
            seen |= 1u << p;
            if (_local[j] <= covered[p]) continue;
            AddBacktrack(j, last, stopper, AnyObject, _kind[last]);
            Join(covered, _clock.AsSpan(j * S, _threads));
        }
    }

    /// <summary>Race e_j ⋖ (q's next event at n): make sure some initial of notdep(e_j).q is explored at j.</summary>
    private void AddBacktrack(int j, int n, int q, int obj, AccessKind kind)
    {
        var pt = _chosen[j];
        var pl = _local[j];
        var prefix = _prefix.AsSpan(j * S, S);
        uint initials = 0, seen = 0;
        var qFirst = true;   // q's event has no predecessor in notdep(e_j)
        for (var k = j + 1; k < n; k++)
        {
            var ck = _clock.AsSpan(k * S, S);
            if (ck[pt] >= pl) continue;   // happens after e_j: not in notdep(e_j)
            if (obj == AnyObject || _objId[k] == obj && _kind[k].ConflictsWith(kind)) qFirst = false;
            var t = _chosen[k];
            if ((seen & (1u << t)) != 0) continue;
            seen |= 1u << t;
            if (Below(ck, prefix, t)) initials |= 1u << t;
        }
        if (qFirst && (seen & (1u << q)) == 0 && Below(_threadClock.AsSpan(q * S, S), prefix, q)) initials |= 1u << q;

        if ((initials & _backtrack[j]) != 0) return;
        var candidates = initials & _enabled[j];
        if (candidates == 0) candidates = _enabled[j];   // conservative: every thread that could run there
        var awake = candidates & ~_sleep[j];
        if (awake != 0) candidates = awake;
        var pick = (candidates & (1u << q)) != 0 ? q : BitOperations.TrailingZeroCount(candidates);
        if (_preemptionBound is { } bound && IsPreemption(j, pick) && (j == 0 ? 0 : _preemptions[j - 1]) + 1 > bound)
        {
            _boundHit = true;
            return;
        }
        _backtrack[j] |= 1u << pick;
    }

    private bool Below(ReadOnlySpan<int> clock, ReadOnlySpan<int> prefix, int self)
    {
        for (var u = 0; u < _threads; u++)
            if (u != self && clock[u] > prefix[u]) return false;
        return true;
    }

    private void Join(Span<int> into, ReadOnlySpan<int> from)
    {
        for (var u = 0; u < _threads; u++)
            if (from[u] > into[u]) into[u] = from[u];
    }

    private List<int> History(int objectId)
    {
        while (_history.Count <= objectId) _history.Add(new List<int>());
        return _history[objectId];
    }

    private void EnsureCapacity(int size)
    {
        if (size <= _chosen.Length) return;
        var n = Math.Max(size, _chosen.Length * 2);
        Array.Resize(ref _chosen, n);
        Array.Resize(ref _enabled, n);
        Array.Resize(ref _backtrack, n);
        Array.Resize(ref _sleep, n);
        Array.Resize(ref _stoppers, n);
        Array.Resize(ref _objId, n);
        Array.Resize(ref _kind, n);
        Array.Resize(ref _local, n);
        Array.Resize(ref _preemptions, n);
        Array.Resize(ref _clock, n * S);
        Array.Resize(ref _prefix, n * S);
    }
}
